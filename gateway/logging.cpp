#include "gateway/logging.hpp"

#include <libxml/xmlversion.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <xmlsec/version.h>

#include <sqlite3.h>

namespace sceau::gateway {
namespace {

bool json_format = false;

std::string logfmt_value(std::string_view v) {
    bool plain = !v.empty();
    for (char c : v)
        plain = plain && c > ' ' && c != '"' && c != '=' && c != '\\' && c != 0x7f;
    if (plain)
        return std::string(v);
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\')
            out += '\\';
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            out += '?'; // no control characters in a log line
        else
            out += c;
    }
    return out + "\"";
}

} // namespace

void setup_logging(const std::string& level, const std::string& format) {
    auto logger = spdlog::stderr_logger_mt("sceau");
    json_format = format == "json";
    // The message of a json line is the rest of the object: see log_event.
    logger->set_pattern(json_format ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                                    : "%Y-%m-%dT%H:%M:%S.%eZ %l %v",
                        spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

void log_event(log_level level, std::string_view event, std::initializer_list<log_field> fields) {
    log_event(level, event, std::vector<log_field>(fields));
}

void log_event(log_level level, std::string_view event, const std::vector<log_field>& fields) {
    std::string line;
    if (json_format) {
        nlohmann::json j = {{"event", event}};
        for (const auto& [k, v] : fields)
            j[std::string(k)] = v;
        auto dumped = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        line = dumped.substr(1, dumped.size() - 2); // the object's members only
    } else {
        line = std::string(event);
        for (const auto& [k, v] : fields)
            line += " " + std::string(k) + "=" + logfmt_value(v);
    }
    switch (level) {
    case log_level::debug:
        spdlog::debug("{}", line);
        break;
    case log_level::info:
        spdlog::info("{}", line);
        break;
    case log_level::warn:
        spdlog::warn("{}", line);
        break;
    case log_level::error:
        spdlog::error("{}", line);
        break;
    }
}

std::vector<log_field> library_versions() {
    return {{"openssl", OpenSSL_version(OPENSSL_VERSION)},
            {"libxml2", LIBXML_DOTTED_VERSION},
            {"xmlsec1", XMLSEC_VERSION},
            {"sqlite", sqlite3_libversion()}};
}

} // namespace sceau::gateway
