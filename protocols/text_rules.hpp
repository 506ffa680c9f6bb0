#pragma once

#include <optional>
#include <string_view>

namespace sceau::protocols {

/// Whether a code point changes how the text around it reads without being seen: C0 and
/// C1 controls and DEL, the Unicode Bidi_Control characters (ALM, LRM, RLM, the embeddings
/// and overrides U+202A..U+202E, the isolates U+2066..U+2069) that can make
/// "evil\u202Efdp.exe" display as "evilexe.pdf", and the line and paragraph separators
/// U+2028 and U+2029.
bool is_hidden_control(char32_t cp) noexcept;

/// What is wrong with a text that a sender or the operator gives as a name, a subject, a
/// reference or an e-mail address, as a phrase that follows the field's name ("is not
/// valid UTF-8", "contains control characters", "contains bidirectional formatting
/// characters"). Nothing when the text can be kept, sealed in XML evidence and shown as
/// it is.
std::optional<std::string_view> text_fault(std::string_view text);

/// Whether `address` is an e-mail address Sceau can send to and show without ambiguity:
/// an RFC 5321 Mailbox whose local part is a Dot-string of at most 64 bytes and whose
/// domain has at least two labels of at most 63 bytes, of letters, digits and inner
/// hyphens, the last one not all digits; UTF-8 is allowed in both parts (RFC 6531). No
/// quoted local part, no address literal, at most 254 bytes in all, no text_fault(), and
/// no part that mixes scripts the way look-alike addresses do (Unicode TS #39, moderately
/// restrictive: "exаmple" with a Cyrillic "а" is refused).
bool is_mailbox(std::string_view address);

} // namespace sceau::protocols
