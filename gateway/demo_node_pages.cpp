#include "gateway/demo_node_pages.hpp"

#include "gateway/handlers.hpp"
#include "gateway/recipient_pages.hpp"
#include "protocols/lifecycle.hpp"

#include <array>

namespace sceau::gateway {
namespace {

namespace saml = protocols::saml;

/// Who the demo user can be in one click: the recipient of the letter that scripts/run
/// suggests depositing, and someone the sender did not name.
struct preset {
    std::string_view key;
    saml::demo_person person;
};

const std::array<preset, 2>& presets() {
    static const std::array<preset, 2> list{{
        {"claire-martin", {"Martin", "Claire", "1985-02-17", "", "", ""}},
        {"someone-else", {"Imposteur", "Mallory", "1990-06-01", "", "", ""}},
    }};
    return list;
}

struct level_name {
    std::string_view uri;
    std::string_view text;
};

constexpr std::array<level_name, 3> levels{{
    {protocols::loa::low, "faible / low"},
    {protocols::loa::substantial, "substantiel / substantial"},
    {protocols::loa::high, "élevé / high"},
}};

std::string_view level_text(std::string_view uri) {
    for (const auto& l : levels) {
        if (l.uri == uri)
            return l.text;
    }
    return uri;
}

std::string field(const std::map<std::string, std::string>& form, const std::string& name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
}

/// A page of the demo node: the same frame and policy as the recipient's pages, and the
/// warning that nothing here is a real identification, first on every page.
response demo_page(unsigned version, unsigned status, const std::string& content) {
    std::string html;
    html += "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    html += "<meta name=\"referrer\" content=\"no-referrer\">\n";
    html += "<title>DÉMO – nœud eIDAS de démonstration / DEMO – demo eIDAS node</title>\n";
    html += "<link rel=\"stylesheet\" href=\"/assets/recipient.css\">\n</head>\n<body>\n";
    html += "<header><span class=\"provider\">Nœud eIDAS de démonstration / Demo eIDAS "
            "node</span></header>\n";
    html +=
        "<p class=\"demo\" role=\"note\"><strong>DÉMONSTRATION.</strong> Ce nœud n'identifie "
        "personne : il atteste l'identité que vous choisissez, signée avec la clé d'essai "
        "publique. Un vrai service passe par le nœud eIDAS de son pays.<br><strong>DEMONSTRATION."
        "</strong> This node identifies no one: it vouches for the identity you choose, "
        "signed with the public sample key. A real service goes through its country's "
        "eIDAS node.</p>\n";
    html += "<main>\n" + content + "</main>\n</body>\n</html>\n";
    return html_page(version, status, std::move(html));
}

response refusal_page(unsigned version, unsigned status, const std::string& why) {
    return demo_page(version, status,
                     "<h1>Demande refusée / Request refused</h1>\n<p class=\"error\" "
                     "role=\"alert\">" +
                         html_escape(why) + "</p>\n");
}

std::string input(std::string_view id, std::string_view label, std::string_view extra = {}) {
    return "<label for=\"" + std::string(id) + "\">" + std::string(label) +
           "</label>\n<input id=\"" + std::string(id) + "\" name=\"" + std::string(id) +
           "\" maxlength=\"200\"" + std::string(extra) + ">\n";
}

/// GET: what the service provider asks for, and who the demo user may be.
response sign_in(const app& a, const saml::demo_node& node, std::string_view query,
                 unsigned version) {
    std::map<std::string, std::string> params;
    try {
        params = parse_query(query);
    } catch (const http_problem& e) {
        return refusal_page(version, 400, e.what());
    }
    auto saml_request = field(params, "SAMLRequest");
    auto relay_state = field(params, "RelayState");
    saml::demo_request request;
    try {
        request = node.read_request(saml_request);
    } catch (const std::invalid_argument& e) {
        return refusal_page(version, 400, e.what());
    }
    if (relay_state.size() > 80)
        return refusal_page(version, 400, "RelayState is longer than 80 bytes");

    std::string c = "<h1>S'identifier / Identify</h1>\n<p>" +
                    html_escape(a.settings().provider.name) +
                    " demande une identification de niveau au moins / asks for identification "
                    "at level at least <strong>" +
                    html_escape(level_text(request.level)) + "</strong>.</p>\n";
    c += "<form method=\"post\" action=\"/demo/eidas/sso\">\n"
         "<input type=\"hidden\" name=\"SAMLRequest\" value=\"" +
         html_escape(saml_request) + "\">\n<input type=\"hidden\" name=\"RelayState\" value=\"" +
         html_escape(relay_state) + "\">\n";
    c += "<label for=\"level\">Niveau attesté / Level vouched for</label>\n"
         "<select id=\"level\" name=\"level\">\n";
    for (const auto& l : levels)
        c += "<option value=\"" + std::string(l.uri) + "\"" +
             (l.uri == request.level ? " selected" : "") + ">" + std::string(l.text) +
             "</option>\n";
    c += "</select>\n";

    // The typed identity first: Enter in one of its fields submits it.
    c += "<h2>Saisir une identité / Type an identity</h2>\n";
    c += input("given_names", "Prénoms / Given names");
    c += input("family_name", "Nom de famille / Family name");
    c += input("birth_date", "Date de naissance / Date of birth (AAAA-MM-JJ / YYYY-MM-DD)",
               " placeholder=\"1985-02-17\"");
    c += input("person_identifier",
               "Identifiant eIDAS (facultatif) / eIDAS PersonIdentifier (optional)");
    if (request.legal_person) {
        c += input("legal_name", "Personne morale (facultatif) / Legal person (optional)");
        c += input("legal_person_identifier",
                   "Identifiant de la personne morale / Legal person identifier");
    }
    c += "<button type=\"submit\" name=\"person\" value=\"typed\">Attester cette identité / "
         "Vouch for this identity</button>\n";

    c += "<h2>Ou choisir / Or pick</h2>\n<div class=\"choices\">\n";
    for (const auto& p : presets())
        c += "<button type=\"submit\" class=\"secondary\" name=\"person\" value=\"" +
             std::string(p.key) + "\">" + html_escape(p.person.given_names) + " " +
             html_escape(p.person.family_name) + " (" + p.person.birth_date + ")</button>\n";
    c += "</div>\n</form>\n";
    return demo_page(version, 200, c);
}

/// POST: the signed Response, in the form the HTTP-POST binding sends to the ACS.
response answer(const app& a, const saml::demo_node& node,
                const std::map<std::string, std::string>& form, unsigned version) {
    auto relay_state = field(form, "RelayState");
    saml::demo_request request;
    try {
        request = node.read_request(field(form, "SAMLRequest"));
    } catch (const std::invalid_argument& e) {
        return refusal_page(version, 400, e.what());
    }
    if (relay_state.size() > 80)
        return refusal_page(version, 400, "RelayState is longer than 80 bytes");

    saml::demo_person who;
    auto chosen = field(form, "person");
    if (chosen == "typed") {
        who = {field(form, "family_name"), field(form, "given_names"),
               field(form, "birth_date"),  field(form, "person_identifier"),
               field(form, "legal_name"),  field(form, "legal_person_identifier")};
    } else {
        bool found = false;
        for (const auto& p : presets()) {
            if (p.key == chosen) {
                who = p.person;
                found = true;
            }
        }
        if (!found)
            return refusal_page(version, 400, "no such person to pick");
    }
    auto level = field(form, "level");
    std::string saml_response;
    try {
        saml_response = node.respond(request, who, level);
    } catch (const std::invalid_argument& e) {
        return refusal_page(version, 400, e.what());
    }

    const auto& acs = node.settings().sp_acs_url;
    std::string c = "<h1>Identité attestée / Identity vouched for</h1>\n<p>Le nœud de "
                    "démonstration atteste / The demo node vouches for: <strong>" +
                    html_escape(who.given_names) + " " + html_escape(who.family_name) +
                    "</strong>, " + html_escape(who.birth_date) + ", niveau / level <strong>" +
                    html_escape(level_text(level)) + "</strong>.</p>\n";
    c += "<form method=\"post\" action=\"" + html_escape(acs) +
         "\">\n<input type=\"hidden\" name=\"SAMLResponse\" value=\"" + saml_response +
         "\">\n<input type=\"hidden\" name=\"RelayState\" value=\"" + html_escape(relay_state) +
         "\">\n<button type=\"submit\">Retourner vers / Back to " +
         html_escape(a.settings().provider.name) + "</button>\n</form>\n";
    return demo_page(version, 200, c);
}

} // namespace

response handle_demo_node(app& a, operation op, std::string_view query,
                          const std::map<std::string, std::string>& form, unsigned version) {
    const auto* node = a.demo_node();
    if (!node) // off: as if the path did not exist
        throw http_problem(problem_kind::not_found, "no such resource");
    if (op == operation::demo_node_sign_in)
        return sign_in(a, *node, query, version);
    return answer(a, *node, form, version);
}

} // namespace sceau::gateway
