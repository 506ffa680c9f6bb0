#include "gateway/recipient_pages.hpp"

#include "crypto/random.hpp"
#include "crypto/xml.hpp"
#include "gateway/demo_node_pages.hpp"
#include "gateway/handlers.hpp"
#include "gateway/logging.hpp"
#include "protocols/html.hpp"
#include "protocols/letter.hpp"
#include "protocols/notification.hpp"
#include "protocols/oidc.hpp"
#include "protocols/recipient_access.hpp"

#include <boost/beast/http/field.hpp>

#include <charconv>

namespace sceau::gateway {
namespace {

namespace http = boost::beast::http;
using protocols::recipient_access;
using protocols::recipient_view;

constexpr std::string_view cookie_name = "sceau_session";

/// A cookie that ties an identity provider's answer to the browser that began the
/// identification (RFC 6749 section 10.12), so that nobody can make a recipient's browser
/// finish an identification someone else began. Set by the start page, sent by the browser
/// to `path` only, where the answer is taken. SameSite=Lax: it comes along when the
/// provider sends the browser back with a GET, not with a cross-site POST; so a SAML answer,
/// posted to the ACS, is taken at the completion step the ACS redirects to.
struct browser_binding {
    std::string_view cookie;
    std::string_view path;
};
constexpr browser_binding oidc_binding{"sceau_oidc", "/auth/oidc/callback"};
constexpr browser_binding saml_binding{"sceau_saml", "/auth/saml/complete"};

/// One page being answered: its language, its link, its session.
struct page_context {
    app& a;
    std::string lang; ///< "fr" or "en"
    std::string token;
    unsigned version;

    std::string t(std::string_view fr, std::string_view en) const {
        return std::string(lang == "en" ? en : fr);
    }
    std::string base() const { return "/r/" + token; }
    std::string link(std::string_view rest = {}) const {
        return base() + std::string(rest) + "?lang=" + lang;
    }
};

std::string pick_language(std::string_view query, const std::map<std::string, std::string>& form,
                          const http::request_header<>& request) {
    if (auto it = form.find("lang"); it != form.end() && (it->second == "en" || it->second == "fr"))
        return it->second;
    try {
        auto params = parse_query(query);
        if (auto it = params.find("lang");
            it != params.end() && (it->second == "en" || it->second == "fr"))
            return it->second;
    } catch (const http_problem&) {
        // an unreadable query chooses nothing
    }
    // The first of fr or en that Accept-Language names; French by default.
    std::string_view accept = request[http::field::accept_language];
    auto fr = accept.find("fr");
    auto en = accept.find("en");
    if (en != std::string_view::npos && (fr == std::string_view::npos || en < fr))
        return "en";
    return "fr";
}

std::string cookie_of(const http::request_header<>& request, std::string_view name = cookie_name) {
    auto [first, last] = request.equal_range(http::field::cookie);
    for (auto field = first; field != last; ++field) {
        std::string_view v = field->value();
        std::size_t start = 0;
        while (start < v.size()) {
            auto end = v.find(';', start);
            if (end == std::string_view::npos)
                end = v.size();
            auto pair = v.substr(start, end - start);
            while (!pair.empty() && pair.front() == ' ')
                pair.remove_prefix(1);
            if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
                pair[name.size()] == '=')
                return std::string(pair.substr(name.size() + 1));
            start = end + 1;
        }
    }
    return {};
}

std::string page_html(const page_context& p, std::string_view title, const std::string& content) {
    auto other = p.lang == "fr" ? "en" : "fr";
    std::string html;
    html.reserve(4096);
    html += "<!DOCTYPE html>\n<html lang=\"" + p.lang + "\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    html += "<meta name=\"referrer\" content=\"no-referrer\">\n";
    html += "<title>" + html_escape(title) + " – " + html_escape(p.a.settings().provider.name) +
            "</title>\n";
    html += "<link rel=\"stylesheet\" href=\"/assets/recipient.css\">\n</head>\n<body>\n";
    html += "<header><span class=\"provider\">" + html_escape(p.a.settings().provider.name) +
            "</span><nav><a hreflang=\"" + std::string(other) + "\" href=\"" + p.base() +
            "?lang=" + other + "\">" + (p.lang == "fr" ? "English" : "Français") +
            "</a></nav></header>\n";
    if (p.a.sample_keys())
        html += "<p class=\"demo\">" +
                p.t("Démonstration : ce service fonctionne avec des clés d'essai et ne délivre "
                    "aucune preuve qualifiée.",
                    "Demonstration: this service runs on sample keys and issues no qualified "
                    "proof.") +
                "</p>\n";
    html += "<main>\n" + content + "</main>\n</body>\n</html>\n";
    return html;
}

response html_response(const page_context& p, unsigned status, std::string_view title,
                       const std::string& content) {
    return html_page(p.version, status, page_html(p, title, content));
}

/// The title of every page: the umbrella term, true of an `lre` and of an `ere` alike, so
/// that no title tells one from the other before identification.
std::string generic_title(const page_context& p) {
    return p.t("Envoi recommandé électronique", "Registered electronic delivery");
}

/// "substantiel ou élevé" for a required level of substantial, "élevé" for high.
std::string levels_accepted(const page_context& p, std::string_view required_level) {
    return required_level == protocols::loa::high
               ? p.t("élevé", "high")
               : p.t("substantiel ou élevé", "substantial or high");
}

/// "Votre lettre recommandée électronique", "Un envoi recommandé électronique vous attend":
/// the letter's own kind, in the page's language.
std::string kind_phrase(const page_context& p, const recipient_view& v, std::string_view fr_before,
                        std::string_view en_before, std::string_view fr_after = {},
                        std::string_view en_after = {}) {
    auto words = protocols::kind_words::of(v.letter.kind);
    return p.t(std::string(fr_before) + std::string(words.fr) + std::string(fr_after),
               std::string(en_before) + std::string(words.en) + std::string(en_after));
}

/// A page of one heading and one paragraph (both already in the page's language).
response message_page(const page_context& p, unsigned status, const std::string& heading,
                      const std::string& text, const std::string& extra = {}) {
    return html_response(p, status, generic_title(p),
                         "<h1>" + heading + "</h1>\n<p>" + text + "</p>\n" + extra);
}

/// Unknown, used and expired links, and sessions that do not fit them: one page that
/// says nothing about any letter.
response neutral_page(const page_context& p) {
    return message_page(
        p, 404, p.t("Ce lien n'est pas valable", "This link is not valid"),
        p.t("Ce lien n'existe pas ou n'est plus valable. Si vous avez reçu un avis plus récent, "
            "utilisez le lien qu'il contient.",
            "This link does not exist or is no longer valid. If you received a more recent "
            "notice, use the link it holds."));
}

/// A choice that came too late: another one was recorded first, or the window closed.
response choice_lost(const page_context& p) {
    return message_page(
        p, 409, p.t("Cette lettre n'attend plus de choix", "This letter awaits no choice any more"),
        p.t("Un choix a déjà été enregistré pour cette lettre, ou le délai est dépassé. Rien "
            "n'a été changé.",
            "A choice was already recorded for this letter, or the deadline has passed. Nothing "
            "was changed."));
}

response redirect(const page_context& p, const std::string& where) {
    response res{http::status::see_other, p.version};
    res.set(http::field::location, where);
    res.set("Referrer-Policy", "no-referrer");
    res.prepare_payload();
    return res;
}

std::string hidden_fields(const page_context& p, const recipient_view& v) {
    return "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escape(v.session.csrf) +
           "\">\n<input type=\"hidden\" name=\"lang\" value=\"" + p.lang + "\">\n";
}

std::string deadline_paragraph(const page_context& p, const recipient_view& v) {
    auto day = protocols::last_day_text(crypto::parse_utc(v.letter.accept_deadline), p.lang);
    bool fem = protocols::kind_words::of(v.letter.kind).fr_feminine;
    return "<p class=\"deadline\">" +
           p.t(fem ? "Vous pouvez l'accepter ou la refuser jusqu'au "
                   : "Vous pouvez l'accepter ou le refuser jusqu'au ",
               "You may accept or refuse it until ") +
           "<strong>" + html_escape(day) + "</strong>" +
           p.t(" inclus (heure de Paris).", " inclusive (Paris time).") + "</p>\n";
}

std::string code_form(const page_context& p, const recipient_view& v, const std::string& error) {
    std::string c = "<h1>" + p.t("Saisissez votre code", "Enter your code") + "</h1>\n";
    if (!error.empty())
        c += "<p class=\"error\" role=\"alert\">" + error + "</p>\n";
    c += "<p>" + p.t("Un code vous a été envoyé à ", "A code was sent to ") + "<strong>" +
         html_escape(v.masked_email) + "</strong>. " +
         p.t("Il est valable quelques minutes.", "It is valid for a few minutes.") + "</p>\n";
    c += "<form method=\"post\" action=\"" + p.base() + "/verify\">\n" + hidden_fields(p, v) +
         "<label for=\"code\">" + p.t("Code reçu par e-mail", "Code received by e-mail") +
         "</label>\n<input id=\"code\" name=\"code\" inputmode=\"numeric\" "
         "autocomplete=\"one-time-code\" maxlength=\"20\" required>\n<button type=\"submit\">" +
         p.t("Valider", "Confirm") + "</button>\n</form>\n";
    c += "<form method=\"post\" action=\"" + p.base() + "/code\">\n" + hidden_fields(p, v) +
         "<button type=\"submit\" class=\"secondary\">" +
         p.t("Recevoir un nouveau code", "Send a new code") + "</button>\n</form>\n";
    return c;
}

/// The eIDAS level to ask an identity provider for: the one the letter needs, or
/// substantial for an ere (whose e-mail code level is no eIDAS level).
std::string eidas_level_for(const page_context& p, const recipient_view& v) {
    auto level = std::string(p.a.recipients().level_for(v.letter.kind));
    if (level == protocols::email_control_loa)
        level = std::string(protocols::loa::substantial);
    return level;
}

/// The OpenID Connect providers that can give the level this letter needs.
std::vector<const protocols::oidc::relying_party*> oidc_offered(const page_context& p,
                                                                const recipient_view& v) {
    std::vector<const protocols::oidc::relying_party*> out;
    auto level = eidas_level_for(p, v);
    for (const auto& rp : p.a.oidc()) {
        if (!rp->acr_for(level).empty())
            out.push_back(rp.get());
    }
    return out;
}

response landing(const page_context& p, const recipient_view& v, const std::string& message = {}) {
    std::string c;
    if (v.letter.status == "accepted") {
        c += "<h1>" + kind_phrase(p, v, "Votre ", "Your ") + "</h1>\n<p>" +
             p.t("Vous avez accepté cette lettre. Identifiez-vous pour y accéder.",
                 "You have accepted this letter. Identify yourself to open it.") +
             "</p>\n";
    } else {
        bool fem = protocols::kind_words::of(v.letter.kind).fr_feminine;
        c += "<h1>" + kind_phrase(p, v, fem ? "Une " : "Un ", "A ", " vous attend", " awaits you") +
             "</h1>\n<p>" + html_escape(p.a.settings().provider.name) +
             kind_phrase(p, v, fem ? " conserve pour vous une " : " conserve pour vous un ",
                         " holds a ", ".", " for you.") +
             "</p>\n" + deadline_paragraph(p, v) + "<p>" +
             p.t("Son expéditeur, son objet et son contenu vous seront montrés après votre "
                 "acceptation. Pour accepter ou refuser la lettre, identifiez-vous.",
                 "Its sender, subject and content are shown to you once you have accepted it. "
                 "To accept or refuse the letter, identify yourself.") +
             "</p>\n";
    }
    if (!message.empty())
        c += "<p class=\"error\" role=\"alert\">" + message + "</p>\n";

    c += "<h2>" + p.t("Vous identifier", "Identify yourself") + "</h2>\n";
    // eIDAS first: it is what an lre needs, and it serves an ere as well.
    if (p.a.saml())
        c += "<p><a class=\"button\" href=\"" + p.link("/auth/saml") + "\">" +
             p.t("M'identifier avec eIDAS (France Identité, identité numérique européenne)",
                 "Identify me with eIDAS (France Identité, European digital identity)") +
             "</a></p>\n";
    auto providers = oidc_offered(p, v);
    for (const auto* rp : providers)
        c += "<p><a class=\"button\" href=\"" + p.link("/auth/oidc/" + rp->config().id) + "\">" +
             p.t("M'identifier avec ", "Identify me with ") + html_escape(rp->config().label) +
             "</a></p>\n";
    bool eidas = p.a.saml() || !providers.empty();
    if (v.letter.kind == "ere") {
        c += "<p>" +
             (eidas ? p.t("Ou recevez un code à usage unique à votre adresse ",
                          "Or receive a one-time code at your address ")
                    : p.t("Nous envoyons un code à usage unique à votre adresse ",
                          "We send a one-time code to your address ")) +
             "<strong>" + html_escape(v.masked_email) +
             "</strong>.</p>\n<form method=\"post\" action=\"" + p.base() + "/code\">\n" +
             hidden_fields(p, v) + "<button type=\"submit\">" +
             p.t("Recevoir un code par e-mail", "Send me a code by e-mail") +
             "</button>\n</form>\n";
    } else {
        c += "<p>" +
             p.t("Cette lettre recommandée électronique exige une identification eIDAS de niveau ",
                 "This registered electronic letter requires eIDAS identification at level ") +
             levels_accepted(p, p.a.recipients().level_for(v.letter.kind)) +
             p.t(". Un code envoyé par e-mail ne suffit pas.",
                 ". A code sent by e-mail is not enough.") +
             "</p>\n";
        if (!eidas)
            c += "<p>" +
                 p.t("Aucun moyen d'identification eIDAS n'est encore proposé par ce service.",
                     "No eIDAS identification method is offered by this service yet.") +
                 "</p>\n";
    }
    return html_response(p, message.empty() ? 200 : 400, generic_title(p), c);
}

response choice_page(const page_context& p, const recipient_view& v) {
    std::string c = "<h1>" + p.t("Acceptez-vous cette lettre ?", "Do you accept this letter?") +
                    "</h1>\n<p>" + p.t("Vous êtes identifié(e).", "You are identified.") +
                    "</p>\n" + deadline_paragraph(p, v);
    c += "<p>" +
         p.t("Si vous l'acceptez, son expéditeur, son objet et ses documents vous sont montrés. "
             "Si vous la refusez, elle ne vous sera pas montrée. Votre choix est définitif et "
             "enregistré comme preuve pour l'expéditeur.",
             "If you accept it, its sender, subject and documents are shown to you. If you "
             "refuse it, it will not be shown to you. Your choice is final and recorded as "
             "evidence for the sender.") +
         "</p>\n<div class=\"choices\">\n";
    c += "<form method=\"post\" action=\"" + p.base() + "/accept\">\n" + hidden_fields(p, v) +
         "<button type=\"submit\" name=\"choice\" value=\"accept\">" +
         p.t("Accepter la lettre", "Accept the letter") + "</button>\n</form>\n";
    c += "<form method=\"post\" action=\"" + p.base() + "/refuse\">\n" + hidden_fields(p, v) +
         "<button type=\"submit\" name=\"choice\" value=\"refuse\" class=\"secondary\">" +
         p.t("Refuser la lettre", "Refuse the letter") + "</button>\n</form>\n</div>\n";
    return html_response(p, 200, generic_title(p), c);
}

std::string size_text(const page_context& p, std::int64_t bytes) {
    if (bytes < 1024)
        return std::to_string(bytes) + p.t(" o", " B");
    if (bytes < (1 << 20))
        return std::to_string((bytes + 512) / 1024) + p.t(" Kio", " KiB");
    return std::to_string((bytes + (1 << 19)) >> 20) + p.t(" Mio", " MiB");
}

/// After acceptance: now, and only now, the sender, the subject and the documents.
response letter_page(const page_context& p, const recipient_view& v) {
    auto sender = p.a.db().sender_by_id(v.letter.sender_id);
    std::string c = "<h1>" + kind_phrase(p, v, "Votre ", "Your ") + "</h1>\n<dl>\n";
    if (sender) {
        auto who =
            sender->company.empty() ? sender->name : sender->name + " (" + sender->company + ")";
        c += "<dt>" + p.t("Expéditeur", "Sender") + "</dt><dd>" + html_escape(who) + " &lt;" +
             html_escape(sender->email) + "&gt;</dd>\n";
    }
    if (!v.letter.subject.empty())
        c += "<dt>" + p.t("Objet", "Subject") + "</dt><dd>" + html_escape(v.letter.subject) +
             "</dd>\n";
    if (!v.letter.reference.empty())
        c += "<dt>" + p.t("Référence", "Reference") + "</dt><dd>" +
             html_escape(v.letter.reference) + "</dd>\n";
    bool fem = protocols::kind_words::of(v.letter.kind).fr_feminine;
    c += "<dt>" + p.t(fem ? "Déposée le" : "Déposé le", "Deposited on") + "</dt><dd>" +
         html_escape(protocols::moment_text(crypto::parse_utc(v.letter.created_at), p.lang)) +
         p.t(" (heure de Paris)", " (Paris time)") + "</dd>\n</dl>\n<h2>" +
         p.t("Documents", "Documents") + "</h2>\n<ul class=\"documents\">\n";
    for (const auto& d : v.letter.documents) {
        if (!d.stored)
            continue;
        c += "<li><a href=\"" + p.base() + "/documents/" + std::to_string(d.position) +
             "\" download>" + html_escape(d.name) + "</a> <span class=\"size\">" +
             size_text(p, d.size) + "</span><br><span class=\"digest\">SHA-256 " + d.sha256 +
             "</span></li>\n";
    }
    c += "</ul>\n<p>" +
         p.t("Le premier téléchargement est enregistré comme preuve de la remise du contenu.",
             "The first download is recorded as evidence that the content was handed over.") +
         "</p>\n";
    return html_response(p, 200, generic_title(p), c);
}

response expired_session(const page_context& p) {
    return message_page(p, 403, p.t("Cette page a expiré", "This page has expired"),
                        p.t("Pour votre sécurité, recommencez depuis le lien de votre avis.",
                            "For your safety, start again from the link in your notice."),
                        "<p><a href=\"" + p.link() + "\">" + p.t("Recommencer", "Start again") +
                            "</a></p>\n");
}

/// A cookie of the recipient's pages: HttpOnly, SameSite=Lax, and Secure behind https.
/// An empty value for no minutes removes it.
std::string cookie(const page_context& p, std::string_view name, const std::string& value,
                   std::string_view path, long long minutes) {
    bool secure = p.a.settings().recipient_base_url().rfind("https://", 0) == 0;
    return std::string(name) + "=" + value + "; Path=" + std::string(path) +
           "; Max-Age=" + std::to_string(minutes * 60) + "; HttpOnly; SameSite=Lax" +
           (secure ? "; Secure" : "");
}

std::string set_cookie(const page_context& p, const std::string& secret) {
    auto minutes = std::chrono::minutes(p.a.settings().recipient.session_minutes).count();
    return cookie(p, cookie_name, secret, p.base(), minutes);
}

/// The cookie of `binding` for `minutes`, or its removal (empty value, no minutes).
std::string binding_cookie(const page_context& p, const browser_binding& binding,
                           const std::string& value, unsigned minutes) {
    return cookie(p, binding.cookie, value, binding.path, minutes);
}

/// Whether the answer came back to the browser that began `pending`.
bool same_browser(const http::request_header<>& request, const browser_binding& binding,
                  const recipient_access::pending_identification& pending) {
    return recipient_access::same_browser(pending, cookie_of(request, binding.cookie));
}

} // namespace

response html_page(unsigned version, unsigned status, std::string html) {
    response res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.set("Content-Security-Policy",
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'");
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    res.body() = std::move(html);
    res.prepare_payload();
    return res;
}

std::string attachment_disposition(std::string_view name) {
    std::string fallback, encoded;
    static constexpr char hex[] = "0123456789ABCDEF";
    for (unsigned char c : name) {
        bool plain = std::isalnum(c) || c == '.' || c == '-' || c == '_';
        fallback.push_back(plain || c == ' ' ? static_cast<char>(c) : '_');
        if (plain) {
            encoded.push_back(static_cast<char>(c));
        } else {
            encoded.push_back('%');
            encoded.push_back(hex[c >> 4]);
            encoded.push_back(hex[c & 15]);
        }
    }
    if (fallback.empty())
        fallback = "document";
    return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + encoded;
}

std::string_view recipient_stylesheet() {
    return R"css(body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;
color:#1b1b1b;line-height:1.5}
header{display:flex;justify-content:space-between;border-bottom:1px solid #ccc;padding-bottom:.5rem}
.provider{font-weight:bold}
h1{font-size:1.5rem}
.demo{background:#fff3cd;border:1px solid #e0c36c;padding:.5rem}
.error{color:#a00;font-weight:bold}
.deadline strong{white-space:nowrap}
form{margin:1rem 0}
label{display:block;margin-bottom:.25rem}
input{font-size:1.2rem;padding:.4rem;letter-spacing:.2rem}
button{font-size:1rem;padding:.5rem 1rem;background:#1d4e89;color:#fff;border:0;border-radius:4px}
button.secondary{background:#fff;color:#1d4e89;border:1px solid #1d4e89}
a.button{display:inline-block;padding:.5rem 1rem;background:#1d4e89;color:#fff;border-radius:4px;
text-decoration:none}
.choices{display:flex;gap:1rem}
dt{font-weight:bold}
.digest{font-family:monospace;font-size:.8rem;color:#555;word-break:break-all}
)css";
}

/// An answer from an identity provider that no request waits for (unknown, used or
/// expired), or that came back to another browser.
response identification_gone(const page_context& p) {
    return message_page(p, 400, p.t("Identification expirée", "Identification expired"),
                        p.t("Cette identification n'est plus attendue. Recommencez depuis le "
                            "lien de votre avis.",
                            "This identification is no longer expected. Start again from the "
                            "link in your notice."));
}

std::string start_again(const page_context& back) {
    return "<p><a href=\"" + back.link() + "\">" + back.t("Recommencer", "Start again") +
           "</a></p>\n";
}

/// The provider's answer was refused: nothing about the letter, and nothing about why but
/// a level of assurance below the one required, which the recipient can do something about.
response identification_refused(const page_context& back, std::string_view required_level = {}) {
    if (!required_level.empty())
        return message_page(
            back, 403,
            back.t("Niveau d'identification insuffisant", "Identification level too low"),
            back.t("Le fournisseur d'identité vous a identifié à un niveau inférieur à celui "
                   "qu'exige cette lettre : ",
                   "The identity provider identified you at a lower level than this letter "
                   "requires: ") +
                levels_accepted(back, required_level) +
                back.t(". Rien n'a été ouvert. Recommencez avec un moyen d'identification de ce "
                       "niveau.",
                       ". Nothing was opened. Start again with a means of identification at "
                       "that level."),
            start_again(back));
    return message_page(back, 403, back.t("Identification refusée", "Identification refused"),
                        back.t("La réponse du fournisseur d'identité n'a pas pu être "
                               "acceptée. Rien n'a été ouvert.",
                               "The identity provider's answer could not be accepted. "
                               "Nothing was opened."),
                        start_again(back));
}

/// After an identity provider vouched for someone: back to the letter when it is the
/// named person; otherwise a page that says only that, the attempt being recorded.
response identity_answer(const page_context& back, recipient_access::identity_outcome outcome,
                         request_context& ctx) {
    switch (outcome) {
    case recipient_access::identity_outcome::identified:
        return redirect(back, back.link());
    case recipient_access::identity_outcome::session_gone:
        return expired_session(back);
    case recipient_access::identity_outcome::no_match:
    case recipient_access::identity_outcome::review:
        break;
    }
    log_event(log_level::warn, "identity-mismatch",
              {{"request", ctx.id},
               {"outcome",
                outcome == recipient_access::identity_outcome::review ? "review" : "no-match"}});
    return message_page(back, 403, back.t("Identité non reconnue", "Identity not recognised"),
                        back.t("Votre identité ne correspond pas à celle du destinataire de "
                               "cette lettre. Rien n'a été ouvert ; la tentative est "
                               "enregistrée.",
                               "Your identity does not match the recipient of this letter. "
                               "Nothing was opened; the attempt is recorded."));
}

/// The language the recipient chose when the request began: the provider's answer comes
/// from its own site, which knows nothing of it.
std::string language_of(const page_context& p,
                        const recipient_access::pending_identification& pending) {
    auto lang = pending.secrets.value("lang", "");
    return lang == "en" || lang == "fr" ? lang : p.lang;
}

/// The page of the link a remembered request returns to, in the language it began in.
page_context return_page(const page_context& p,
                         const recipient_access::pending_identification& pending) {
    return {p.a, language_of(p, pending),
            pending.return_path.substr(pending.return_path.rfind('/') + 1), p.version};
}

/// Sends the browser to an identity provider at `url`, marked by the cookie of `binding`.
response to_provider(const page_context& p, const std::string& url, const browser_binding& binding,
                     const std::string& browser, unsigned minutes) {
    auto res = redirect(p, url);
    res.set(http::field::set_cookie, binding_cookie(p, binding, browser, minutes));
    return res;
}

/// Sends the recipient to the eIDAS node with a fresh AuthnRequest (HTTP-Redirect binding).
response saml_start(const page_context& p, const recipient_view& v) {
    auto* sp = p.a.saml();
    if (!sp || v.identified)
        return redirect(p, p.link());
    auto level = eidas_level_for(p, v);
    // The answer comes back with the RelayState, which names what is remembered; the
    // AuthnRequest's ID is what its InResponseTo must be.
    auto relay_state = crypto::random_id("_sceau-");
    // A company's letter asks for the legal person too (eIDAS legal person data set).
    bool company = !protocols::recipient_from_json(v.letter.recipient_json).legal_name.empty();
    auto authn = sp->make_authn_request(level, relay_state, company);
    auto minutes = p.a.settings().identification.request_minutes;
    auto browser = p.a.recipients().remember_request(
        v, p.token, "saml", relay_state, level, {{"authn_request_id", authn.id}, {"lang", p.lang}},
        std::chrono::minutes(minutes));
    return to_provider(p, authn.redirect_url, saml_binding, browser, minutes);
}

/// The eIDAS node's answer (HTTP-POST binding). It comes from the node's site, without the
/// session's cookie or the browser's: the RelayState names the request remembered for the
/// session. The Response is verified here, but identifies no one yet: the verdict is held
/// for the completion step, where the browser that began the request proves itself.
response saml_acs(const page_context& p, const std::map<std::string, std::string>& form,
                  request_context& ctx) {
    auto* sp = p.a.saml();
    auto relay = form.count("RelayState") ? form.at("RelayState") : std::string();
    auto pending = sp ? p.a.recipients().take_request(relay, "saml") : std::nullopt;
    if (!pending)
        return identification_gone(p);
    ctx.letter_id = pending->request.letter_id;

    auto response_b64 = form.count("SAMLResponse") ? form.at("SAMLResponse") : std::string();
    auto verdict =
        sp->verify_response(response_b64, pending->secrets.value("authn_request_id", std::string()),
                            pending->request.required_loa);
    recipient_access::verified_answer answer;
    if (verdict) {
        answer.who = verdict.identity->to_identification();
        answer.asserted = {verdict.identity->to_person_claim()};
    } else {
        // The reason code, never the message's content, goes to the log.
        answer.refusal = std::string(protocols::saml::to_string(verdict.reason()));
        log_event(log_level::warn, "saml-refused",
                  {{"request", ctx.id}, {"reason", answer.refusal}});
    }
    auto held = p.a.recipients().hold_answer(*pending, answer);
    return redirect(p, std::string(saml_binding.path) + "?answer=" + held +
                           "&lang=" + language_of(p, *pending));
}

std::string param(const std::map<std::string, std::string>& params, const char* name) {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
}

std::map<std::string, std::string> query_params(std::string_view query) {
    try {
        return parse_query(query);
    } catch (const http_problem&) {
        return {}; // an unreadable answer names no request
    }
}

/// Where the ACS sends the browser: the answer it verified is taken, once, and opens the
/// letter only in the browser that began the request; another one learns nothing.
response saml_complete(const page_context& p, std::string_view query,
                       const http::request_header<>& request, request_context& ctx) {
    auto held = p.a.saml()
                    ? p.a.recipients().take_answer(param(query_params(query), "answer"), "saml")
                    : std::nullopt;
    if (!held)
        return identification_gone(p);
    ctx.letter_id = held->pending.request.letter_id;
    if (!same_browser(request, saml_binding, held->pending)) {
        log_event(log_level::warn, "saml-refused",
                  {{"request", ctx.id}, {"reason", "other_browser"}});
        return identification_gone(p);
    }

    auto back = return_page(p, held->pending);
    const auto& answer = held->answer;
    auto res = answer.who ? identity_answer(back,
                                            p.a.recipients().complete(held->pending.request,
                                                                      *answer.who, answer.asserted),
                                            ctx)
                          : identification_refused(back, answer.refusal == "loa_too_low"
                                                             ? held->pending.request.required_loa
                                                             : std::string());
    res.set(http::field::set_cookie, binding_cookie(back, saml_binding, "", 0));
    return res;
}

/// Sends the recipient to an OpenID Connect provider: the request (state, nonce, PKCE
/// verifier, the level) kept server-side, the browser marked by a cookie of its own.
response oidc_start(const page_context& p, const recipient_view& v, const std::string& name,
                    request_context& ctx) {
    auto* rp = p.a.oidc_provider(name);
    auto level = eidas_level_for(p, v);
    if (!rp || v.identified || rp->acr_for(level).empty())
        return redirect(p, p.link());
    protocols::oidc::authorization_request r;
    try {
        r = rp->begin(level);
    } catch (const std::exception& e) {
        log_event(log_level::error, "oidc-unavailable",
                  {{"request", ctx.id}, {"provider", name}, {"error", e.what()}});
        auto res = message_page(
            p, 503, p.t("Fournisseur d'identité injoignable", "Identity provider unreachable"),
            p.t("Le fournisseur d'identité ne répond pas. Réessayez dans quelques minutes, ou "
                "choisissez un autre moyen d'identification.",
                "The identity provider does not answer. Try again in a few minutes, or choose "
                "another means of identification."),
            start_again(p));
        res.set(http::field::retry_after, "60");
        return res;
    }
    auto minutes = p.a.settings().identification.request_minutes;
    nlohmann::json secrets = {{"provider", name},
                              {"nonce", r.nonce},
                              {"code_verifier", r.code_verifier},
                              {"lang", p.lang}};
    auto browser = p.a.recipients().remember_request(v, p.token, "oidc", r.state, level, secrets,
                                                     std::chrono::minutes(minutes));
    return to_provider(p, r.url, oidc_binding, browser, minutes);
}

/// The provider's answer at the redirect URI (OpenID Connect Core section 3.1.2.5): the
/// state names the request remembered for the session, taken once whatever follows.
response oidc_callback(const page_context& p, std::string_view query,
                       const http::request_header<>& request, request_context& ctx) {
    auto params = query_params(query);
    auto pending = p.a.oidc().empty()
                       ? std::nullopt
                       : p.a.recipients().take_request(param(params, "state"), "oidc");
    if (!pending)
        return identification_gone(p);
    ctx.letter_id = pending->request.letter_id;
    auto back = return_page(p, *pending);
    auto name = pending->secrets.value("provider", "");
    auto* rp = p.a.oidc_provider(name);

    // The browser that began it, and no other, brings the answer back.
    if (!rp || !same_browser(request, oidc_binding, *pending)) {
        log_event(log_level::warn, "oidc-refused",
                  {{"request", ctx.id}, {"provider", name}, {"reason", "other_browser"}});
        return identification_gone(back);
    }

    protocols::oidc::provider_answer answer{param(params, "code"), param(params, "iss"),
                                            param(params, "error")};
    protocols::oidc::expectations expected{pending->secrets.value("nonce", ""),
                                           pending->request.required_loa,
                                           crypto::parse_utc(pending->request.created_at)};
    auto verdict = rp->finish(answer, pending->secrets.value("code_verifier", ""), expected);
    response res;
    if (!verdict) {
        // The reason code only: never the code, a token or a claim.
        auto reason = verdict.reason();
        log_event(log_level::warn, "oidc-refused",
                  {{"request", ctx.id},
                   {"provider", name},
                   {"reason", std::string(protocols::oidc::to_string(reason))}});
        if (reason == protocols::oidc::refusal::provider_error)
            res = message_page(back, 403,
                               back.t("Identification interrompue", "Identification interrupted"),
                               back.t("L'identification n'a pas abouti auprès du fournisseur "
                                      "d'identité. Rien n'a été ouvert.",
                                      "The identification did not succeed at the identity "
                                      "provider. Nothing was opened."),
                               start_again(back));
        else
            res = identification_refused(back, reason == protocols::oidc::refusal::loa_too_low
                                                   ? pending->request.required_loa
                                                   : std::string());
    } else {
        auto outcome =
            p.a.recipients().complete(pending->request, verdict.identity->to_identification(),
                                      verdict.identity->to_person_claims());
        res = identity_answer(back, outcome, ctx);
    }
    res.set(http::field::set_cookie, binding_cookie(back, oidc_binding, "", 0));
    return res;
}

/// The store or the time-stamping authority failed: nothing was recorded.
response unavailable(const page_context& p, const request_context& ctx, const std::exception& e) {
    log_event(log_level::error, "recipient-page-error", {{"request", ctx.id}, {"error", e.what()}});
    auto res = message_page(
        p, 503, p.t("Service momentanément indisponible", "Service briefly unavailable"),
        p.t("Rien n'a été enregistré. Réessayez dans quelques minutes.",
            "Nothing was recorded. Try again in a few minutes."));
    res.set(http::field::retry_after, "30");
    return res;
}

response too_large_page(app& a, const http::request_header<>& request, std::string_view query) {
    page_context p{a, pick_language(query, {}, request), "-", request.version()};
    return message_page(p, 413, p.t("Demande trop volumineuse", "Request too large"),
                        p.t("Cette demande dépasse la taille admise : rien n'a été lu, "
                            "enregistré ni ouvert. Recommencez depuis le lien de votre avis.",
                            "This request is larger than allowed: nothing was read, recorded "
                            "or opened. Start again from the link in your notice."));
}

response handle_recipient(app& a, const route_match& m, const http::request_header<>& request,
                          std::string_view query, const std::string& body, request_context& ctx,
                          std::optional<file_download>& download) {
    std::map<std::string, std::string> form;
    if (request.method() == http::verb::post) {
        try {
            form = parse_query(body);
        } catch (const http_problem&) {
            form.clear(); // an unreadable form fails the CSRF check below
        }
    }
    auto op = m.matched->op;
    if (op == operation::demo_node_sign_in || op == operation::demo_node_answer)
        return handle_demo_node(a, op, query, form, request.version());
    if (op == operation::saml_acs || op == operation::saml_complete ||
        op == operation::oidc_callback) {
        // The identity provider's answer: no link in the path, no session cookie.
        page_context p{a, pick_language(query, form, request), "-", request.version()};
        try {
            if (op == operation::saml_acs)
                return saml_acs(p, form, ctx);
            if (request.method() != http::verb::get)
                return identification_gone(p); // HEAD would spend the request
            if (op == operation::saml_complete)
                return saml_complete(p, query, request, ctx);
            return oidc_callback(p, query, request, ctx);
        } catch (const std::exception& e) {
            return unavailable(p, ctx, e);
        }
    }
    page_context p{a, pick_language(query, form, request), m.params.at("token"), request.version()};
    auto& access = a.recipients();

    // Tokens are base64url: anything else is no token, and never goes into a page.
    if (p.token.size() > 128 ||
        p.token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
                                  "mnopqrstuvwxyz0123456789-_") != std::string::npos) {
        p.token = "-";
        return neutral_page(p);
    }

    try {
        auto letter = access.open_link(p.token);
        bool choosing = op == operation::recipient_accept || op == operation::recipient_refuse;
        if (!letter && choosing && access.settled_for(p.token, cookie_of(request)))
            return choice_lost(p);
        if (!letter)
            return neutral_page(p);

        auto view = access.view(p.token, cookie_of(request));
        if (op == operation::recipient_landing) {
            if (!view) {
                // A new visit: a new session, bound to this link's letter.
                auto secret = access.start_session(letter->id);
                view = access.view(p.token, secret);
                if (!view)
                    return neutral_page(p);
                auto res = landing(p, *view);
                res.set(http::field::set_cookie, set_cookie(p, secret));
                return res;
            }
            if (view->identified && view->letter.status == "accepted")
                return redirect(p, p.link("/letter"));
            if (view->may_decide)
                return choice_page(p, *view);
            return landing(p, *view);
        }

        if (!view)
            return expired_session(p);
        ctx.letter_id = view->letter.id;

        if (op == operation::recipient_letter) {
            if (!view->identified || view->letter.status != "accepted")
                return redirect(p, p.link());
            return letter_page(p, *view);
        }

        if (op == operation::recipient_saml_start)
            return saml_start(p, *view);

        if (op == operation::recipient_oidc_start) {
            if (request.method() != http::verb::get)
                return redirect(p, p.link());
            return oidc_start(p, *view, m.params.at("provider"), ctx);
        }

        if (op == operation::recipient_document) {
            if (request.method() != http::verb::get)
                return neutral_page(p); // HEAD would count as a handover
            int position = -1;
            const auto& n = m.params.at("n");
            auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), position);
            if (ec != std::errc{} || end != n.data() + n.size())
                return neutral_page(p);
            auto doc = access.hand_over(*view, position);
            if (!doc)
                return neutral_page(p);
            download = file_download{a.blobs().path_of(doc->sha256), doc->name, doc->media_type};
            return {};
        }

        // Every form: the session's CSRF token, or nothing happens.
        auto csrf = form.find("csrf");
        if (csrf == form.end() || !recipient_access::csrf_matches(view->session, csrf->second))
            return expired_session(p);

        switch (op) {
        case operation::recipient_send_code:
            switch (access.send_code(*view)) {
            case recipient_access::code_outcome::sent:
                return html_response(p, 200, generic_title(p), code_form(p, *view, {}));
            case recipient_access::code_outcome::too_many:
                return landing(p, *view,
                               p.t("Trop de codes ont été demandés. Réessayez plus tard.",
                                   "Too many codes were asked for. Try again later."));
            case recipient_access::code_outcome::mail_failed:
                return landing(p, *view,
                               p.t("Le code n'a pas pu être envoyé. Réessayez plus tard.",
                                   "The code could not be sent. Try again later."));
            case recipient_access::code_outcome::not_allowed:
                return redirect(p, p.link());
            }
            break;
        case operation::recipient_verify_code: {
            auto code = form.count("code") ? form.at("code") : std::string();
            auto r = access.verify_code(*view, code);
            switch (r.result) {
            case recipient_access::verify_outcome::identified:
                return redirect(p, p.link());
            case recipient_access::verify_outcome::wrong: {
                auto page = code_form(p, *view,
                                      p.t("Ce code n'est pas le bon. Essais restants : ",
                                          "This code is not the right one. Attempts left: ") +
                                          std::to_string(r.attempts_left));
                return html_response(p, 400, generic_title(p), page);
            }
            case recipient_access::verify_outcome::expired:
            case recipient_access::verify_outcome::locked:
            case recipient_access::verify_outcome::no_code:
                return landing(p, *view,
                               p.t("Ce code n'est plus valable. Demandez-en un nouveau.",
                                   "This code is no longer valid. Ask for a new one."));
            }
            break;
        }
        case operation::recipient_accept:
        case operation::recipient_refuse: {
            bool accepting = op == operation::recipient_accept;
            auto r = accepting ? access.accept(*view) : access.refuse(*view);
            switch (r) {
            case recipient_access::choice_outcome::done:
                if (accepting)
                    return redirect(p, p.link("/letter"));
                return message_page(
                    p, 200, p.t("Vous avez refusé la lettre", "You have refused the letter"),
                    p.t("Votre refus est enregistré et l'expéditeur en reçoit la preuve. La "
                        "lettre ne vous sera pas montrée.",
                        "Your refusal is recorded and the sender receives its evidence. The "
                        "letter will not be shown to you."));
            case recipient_access::choice_outcome::conflict:
            case recipient_access::choice_outcome::window_closed:
                return choice_lost(p);
            case recipient_access::choice_outcome::level_too_low:
            case recipient_access::choice_outcome::not_allowed:
                return landing(p, *view,
                               p.t("Vous devez d'abord vous identifier au niveau requis.",
                                   "You must first identify yourself at the required level."));
            }
            break;
        }
        default:
            break;
        }
        return neutral_page(p);
    } catch (const std::exception& e) {
        return unavailable(p, ctx, e);
    }
}

} // namespace sceau::gateway
