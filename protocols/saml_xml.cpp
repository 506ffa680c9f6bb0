#include "protocols/saml_xml.hpp"

#include "crypto/xml.hpp"

#include <ctime>

namespace sceau::protocols::saml::detail {

const xmlChar* x(const char* s) {
    return reinterpret_cast<const xmlChar*>(s);
}

std::string_view text_of(const xmlChar* s) {
    return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

std::string_view ns_of(const xmlNode* n) {
    return n->ns ? text_of(n->ns->href) : std::string_view();
}

bool is(const xmlNode* n, std::string_view in_ns, std::string_view local) {
    return n && n->type == XML_ELEMENT_NODE && ns_of(n) == in_ns && text_of(n->name) == local;
}

std::vector<xmlNode*> children(xmlNode* parent, std::string_view in_ns, std::string_view local) {
    std::vector<xmlNode*> out;
    for (xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
        if (is(c, in_ns, local))
            out.push_back(c);
    }
    return out;
}

xmlNode* only_child(xmlNode* parent, std::string_view in_ns, std::string_view local) {
    auto found = children(parent, in_ns, local);
    return found.size() == 1 ? found.front() : nullptr;
}

std::optional<std::string> attr(xmlNode* n, const char* name) {
    if (!n || !xmlHasNsProp(n, x(name), nullptr))
        return std::nullopt;
    crypto::xml_string_ptr value(xmlGetNoNsProp(n, x(name)));
    return std::string(text_of(value.get()));
}

std::optional<std::string> plain_text(xmlNode* n) {
    if (!n)
        return std::nullopt;
    std::string out;
    for (xmlNode* c = n->children; c; c = c->next) {
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
            return std::nullopt;
        out += text_of(c->content);
    }
    return out;
}

xmlNs* declare(xmlNode* n, std::string_view uri, const char* prefix) {
    std::string u(uri);
    return xmlNewNs(n, x(u.c_str()), x(prefix));
}

std::string whole_seconds(std::chrono::system_clock::time_point t) {
    auto text = crypto::format_utc(std::chrono::floor<std::chrono::seconds>(t));
    return text.substr(0, 19) + "Z";
}

// xsd:dateTime as SAML core section 1.3.3 restricts it: UTC with "Z".
// YYYY-MM-DDThh:mm:ss[.fraction]Z, every field in range.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s) {
    auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
        if (at + n > s.size())
            return std::nullopt;
        int v = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (s[i] < '0' || s[i] > '9')
                return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s.back() != 'Z')
        return std::nullopt;
    auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
    auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
    if (!year || !month || !day || !hour || !minute || !second)
        return std::nullopt;
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
    if (*year < 1 || *month < 1 || *month > 12 || *day < 1 ||
        *day > days[*month - 1] + (*month == 2 && leap ? 1 : 0) || *hour > 23 || *minute > 59 ||
        *second > 59)
        return std::nullopt;

    std::chrono::nanoseconds fraction{0};
    auto rest = s.substr(19, s.size() - 20);
    if (!rest.empty()) {
        if (rest.front() != '.' || rest.size() < 2 || rest.size() > 10)
            return std::nullopt;
        long long scale = 100000000;
        for (char c : rest.substr(1)) {
            if (c < '0' || c > '9')
                return std::nullopt;
            fraction += std::chrono::nanoseconds((c - '0') * scale);
            scale /= 10;
        }
    }
    std::tm tm{};
    tm.tm_year = *year - 1900;
    tm.tm_mon = *month - 1;
    tm.tm_mday = *day;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    return std::chrono::system_clock::from_time_t(timegm(&tm)) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

bool is_calendar_date(std::string_view s) {
    if (s.size() != 10)
        return false;
    auto t = parse_time(std::string(s) + "T00:00:00Z");
    return t.has_value();
}

} // namespace sceau::protocols::saml::detail
