#pragma once

#include "protocols/lifecycle.hpp"
#include "protocols/mail.hpp"
#include "protocols/matching.hpp"
#include "protocols/notification.hpp"
#include "storage/database.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace sceau::protocols {

/// Limits of the recipient's side: sessions and the e-mail code.
struct recipient_access_options {
    std::chrono::minutes session_lifetime{30};
    std::chrono::minutes code_lifetime{10};
    int code_digits = 8;                ///< at least 6
    int code_attempts = 5;              ///< wrong entries before the code is void
    int codes_per_session = 3;          ///< codes a session may ask for
    int codes_per_letter_per_hour = 10; ///< across sessions: no mail-bombing the recipient
    std::string lre_level = std::string(loa::substantial); ///< or loa::high
};

/// The level a kind of letter needs before it can be accepted or refused: `lre` needs an
/// eIDAS level, at least substantial (`lre_level` may raise it to high); `ere` accepts
/// the e-mail code.
std::string_view required_level(std::string_view kind,
                                std::string_view lre_level = loa::substantial);

/// What a recipient's session may see and do. The letter stays unnamed (no sender,
/// subject or reference) until it is accepted; the gateway's pages only show what this
/// class hands them.
struct recipient_view {
    storage::letter_record letter;
    storage::recipient_session session;
    bool identified = false;
    bool may_decide = false;  ///< identified at the required level, window open
    std::string masked_email; ///< the recipient's own address, partly hidden
};

/// The recipient's side of a letter: links, sessions, identification and the choice.
/// Plain code over the store, the lifecycle and the mailer; the gateway renders pages.
class recipient_access {
public:
    recipient_access(storage::database& db, lifecycle& letters, mailer& mail,
                     const notification_service& notices, recipient_access_options options,
                     crypto::clock_fn clock);

    /// The letter a link opens, or nothing when the token is unknown or the letter is
    /// past its choice (refused, expired, undeliverable): those all look the same.
    std::optional<storage::letter_record> open_link(const std::string& token);

    /// A new session on a letter; returns the session's secret (the cookie's value).
    std::string start_session(const std::string& letter_id);

    /// The view through a session: nothing when the session is unknown, expired or
    /// belongs to another letter.
    std::optional<recipient_view> view(const std::string& token, const std::string& session);

    /// Whether an identified session on this link meets a letter that can no longer be
    /// decided (decided meanwhile, or past its deadline): its choice lost, rather than
    /// its link being unknown.
    bool settled_for(const std::string& token, const std::string& session);

    /// Whether `csrf` is the session's form token (constant time).
    static bool csrf_matches(const storage::recipient_session& s, const std::string& csrf);

    enum class code_outcome { sent, not_allowed, too_many, mail_failed };
    /// Sends a one-time code to the recipient's address (ERE letters only).
    code_outcome send_code(recipient_view& v);

    enum class verify_outcome { identified, wrong, expired, locked, no_code };
    struct verify_result {
        verify_outcome result;
        int attempts_left = 0;
    };
    verify_result verify_code(recipient_view& v, const std::string& code);

    /// Records an identification made by any method (the e-mail code here; eIDAS SAML
    /// and OIDC later) on the session.
    void identified(recipient_view& v, const identification& who);

    /// Keeps, for `lifetime`, what an identification begun at an identity provider needs
    /// when its answer comes back without the session's cookie: the session, the letter,
    /// the level asked for, the method's secrets, and the link to return to (held only
    /// until the answer is taken). Returns a fresh secret for the browser that begins it,
    /// to be set as a cookie: only its hash is kept, and same_browser() tells whether an
    /// answer came back to that browser (RFC 6749 section 10.12).
    std::string remember_request(const recipient_view& v, const std::string& token,
                                 const std::string& method, const std::string& request_id,
                                 const std::string& required_loa, const nlohmann::json& secrets,
                                 std::chrono::minutes lifetime = std::chrono::minutes(10));

    struct pending_identification {
        storage::identification_request request;
        nlohmann::json secrets;   ///< as remembered, without the return link and the hash
        std::string return_path;  ///< /r/TOKEN
        std::string browser_hash; ///< of the secret given to the browser that began it
    };
    /// The request of `method` an answer names, taken once; nothing if unknown, used,
    /// expired, or of another method (which is then left as it was).
    std::optional<pending_identification> take_request(const std::string& request_id,
                                                       const std::string& method);

    /// Whether `browser_secret`, as the browser brought it back, is the secret given to
    /// the browser that began `pending` (constant time).
    static bool same_browser(const pending_identification& pending,
                             const std::string& browser_secret);

    /// A verified answer of an identity provider: who it identified, under which names,
    /// or why it was refused.
    struct verified_answer {
        std::optional<identification> who;
        std::vector<person_claim> asserted;
        std::string refusal; ///< the reason code, when `who` is empty
    };

    /// Holds `answer` to the taken request `taken` for a later step that the browser which
    /// began it reaches with its cookie: the SAML ACS gets the node's answer by a cross-site
    /// POST, which brings no SameSite=Lax cookie. Kept for `lifetime` as a request of method
    /// "METHOD-answer" for the same session, letter, level, link and browser, under a fresh
    /// random ID, which is returned.
    std::string hold_answer(const pending_identification& taken, const verified_answer& answer,
                            std::chrono::minutes lifetime = std::chrono::minutes(2));

    struct held_answer {
        pending_identification pending;
        verified_answer answer;
    };
    /// The answer held under `answer_id` for a request of `method`, taken once; nothing if
    /// unknown, used, expired or held for another method.
    std::optional<held_answer> take_answer(const std::string& answer_id, const std::string& method);

    enum class identity_outcome { identified, no_match, review, session_gone };
    /// An identity provider vouched for `asserted`: if it is the person the sender named
    /// (match_person), the session that began the request is identified by `who`;
    /// otherwise the attempt is recorded for a person to look at, and nothing opens.
    identity_outcome complete(const storage::identification_request& request,
                              const identification& who, const person_claim& asserted);

    /// The same for a provider that asserts the person under several names (a birth name
    /// and a usage name): the best outcome of any of them counts.
    identity_outcome complete(const storage::identification_request& request,
                              const identification& who, const std::vector<person_claim>& asserted);

    enum class choice_outcome { done, conflict, not_allowed, window_closed, level_too_low };
    choice_outcome accept(const recipient_view& v);
    choice_outcome refuse(const recipient_view& v);

    /// The stored document at `position` of an accepted letter, for an identified
    /// session; the first such request records ContentHandover before anything is
    /// served. Nothing for a letter not accepted.
    std::optional<storage::document_record> hand_over(const recipient_view& v, int position);

    /// Removes expired sessions and identification requests (with the answers held for
    /// completion, and the identities in them); returns how many.
    int sweep_sessions();

    identification identification_of(const storage::recipient_session& s) const;

    /// The level this gateway requires for a kind of letter (required_level with the
    /// configured LRE level).
    std::string_view level_for(std::string_view kind) const;

private:
    choice_outcome decide(const recipient_view& v, bool accept);
    void keep(pending_identification p, std::chrono::minutes lifetime);

    storage::database& db_;
    lifecycle& letters_;
    mailer& mail_;
    const notification_service& notices_;
    recipient_access_options options_;
    crypto::clock_fn clock_;
};

} // namespace sceau::protocols
