#pragma once

#include "crypto/merkle.hpp"
#include "crypto/openssl.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

/// Signed notes (C2SP signed-note) and the log checkpoints they carry (C2SP
/// tlog-checkpoint), signed with the seal key: ECDSA P-256, or RSA. docs/audit.md
/// describes the format and how to check a note with openssl alone.
namespace sceau::crypto {

/// The signature type byte of ECDSA in signed notes (C2SP signed-note, "Signature
/// types", 0x02, as the transparency-dev witness implements it), used here with curve
/// P-256 and SHA-256 over the note text. Its key ID is what that type prescribes, the
/// first four bytes of SHA-256 over the DER SubjectPublicKeyInfo alone.
inline constexpr std::uint8_t note_ecdsa_p256 = 0x02;

/// The signature type of RSA PKCS#1 v1.5 with SHA-256, which the note format assigns no
/// byte: 0xff, "reserved for signature types without an identifier byte", followed by
/// this identifier, in the key ID and the verifier key alike. For RSA seals of 2048 bits
/// or more.
inline constexpr std::string_view note_rsa_identifier = "sceau-rsa-pkcs1-sha256";

/// The largest signed note read, and the most signature lines in one.
inline constexpr std::size_t note_max_bytes = 64 * 1024;
inline constexpr std::size_t note_max_signatures = 64;

/// A log checkpoint (C2SP tlog-checkpoint): what a signed note of the log says.
struct checkpoint {
    std::string origin; ///< the log's unique name, e.g. "provider.example/sceau-log"
    std::uint64_t tree_size = 0;
    merkle::hash root_hash{};
    std::vector<std::string> extensions; ///< further lines, none from Sceau; kept as read
};

/// The note text of a checkpoint: origin, tree size in decimal and the base64 root hash,
/// each followed by a newline, then the extension lines. Throws error(note_malformed) for
/// an origin or extension that is empty or holds a control character.
std::string checkpoint_text(const checkpoint& c);

/// Reads a checkpoint from a note text (not a signed note: see open_note()). Throws
/// error(note_malformed) unless it has exactly the form checkpoint_text() writes.
checkpoint parse_checkpoint(std::string_view text);

/// One signature line of a signed note: `— NAME base64(key ID || signature)`.
struct note_signature {
    std::string name;
    std::uint32_t key_id = 0;
    bytes signature; ///< after the key ID: here an ASN.1 DER ECDSA-Sig-Value
};

/// A signed note taken apart, nothing verified yet.
struct signed_note {
    std::string text; ///< up to and including its last newline; what is signed
    std::vector<note_signature> signatures;
};

/// Splits a signed note into its text and signature lines. Throws error(note_malformed)
/// when it is larger than note_max_bytes, not UTF-8, holds a control character other
/// than newline, has no blank line before the signatures, a signature line of another
/// form, or more than note_max_signatures of them.
signed_note parse_signed_note(std::string_view note);

/// The public half of a note key: what a verifier is configured with.
class note_verifier {
public:
    /// `public_key` must be an ECDSA P-256 key or an RSA key of 2048 bits or more; throws
    /// error(bad_key) otherwise.
    note_verifier(std::string name, evp_pkey_ptr public_key);

    /// From a verifier key as note_signer::verifier_key() writes it,
    /// `NAME+KEYID+base64(TYPE || SubjectPublicKeyInfo DER)`. Throws error(bad_key) for
    /// another form, another type or a key ID that does not match.
    static note_verifier from_verifier_key(std::string_view text);

    const std::string& name() const noexcept { return name_; }
    std::uint32_t key_id() const noexcept { return key_id_; }
    EVP_PKEY* public_key() const noexcept { return key_.get(); }

    /// The signature type: {0x02}, or 0xff and note_rsa_identifier.
    const bytes& type() const noexcept { return type_; }

    /// Whether `signature` is this key's SHA-256 signature of `text` (ECDSA: DER).
    bool verify(std::string_view text, std::span<const std::uint8_t> signature) const;

    /// The text of a signed note that carries a valid signature of this key (same name,
    /// same key ID). Throws error(note_malformed) as parse_signed_note() does,
    /// error(note_key_unknown) when no signature line is this key's, and
    /// error(note_signature_invalid) when one is and does not verify.
    std::string open(std::string_view note) const;

private:
    std::string name_;
    evp_pkey_ptr key_;
    bytes type_;
    std::uint32_t key_id_ = 0;
};

/// Signs notes with the gateway's seal key, ECDSA P-256 or RSA. Thread-safe.
class note_signer {
public:
    /// `name` is the key name (no spaces, no '+'); `key` an ECDSA P-256 or RSA key, whose
    /// reference is shared, not moved. Throws error(bad_key) for another key or an
    /// unusable name.
    note_signer(std::string name, EVP_PKEY* key);

    /// The signed note: `text` (which must end in a newline), a blank line and one
    /// signature line. Throws error(note_malformed) for a text that is not a note text,
    /// error(signing_failed) when OpenSSL fails.
    std::string sign(std::string_view text) const;

    const std::string& name() const noexcept { return verifier_.name(); }
    std::uint32_t key_id() const noexcept { return verifier_.key_id(); }
    const note_verifier& verifier() const noexcept { return verifier_; }

    /// `NAME+KEYID+base64(TYPE || SubjectPublicKeyInfo DER)`, KEYID in 8 hex digits: the
    /// form in which verifiers of signed notes are given a key.
    std::string verifier_key() const;

private:
    evp_pkey_ptr key_;
    note_verifier verifier_;
};

/// The key ID of a note key: the first four bytes, big-endian, of
/// SHA-256(name || 0x0A || type || public key), the rule C2SP signed-note recommends, or
/// for type 0x02 (ECDSA) of SHA-256(public key), the rule that type prescribes.
std::uint32_t note_key_id(std::string_view name, std::span<const std::uint8_t> type,
                          std::span<const std::uint8_t> public_key);

/// The note signature type of a key: {0x02} for ECDSA P-256, 0xff and
/// note_rsa_identifier for RSA of 2048 bits or more. Throws error(bad_key) for another.
bytes note_key_type(EVP_PKEY* key);

/// The DER SubjectPublicKeyInfo of a key.
bytes public_key_der(EVP_PKEY* key);

} // namespace sceau::crypto
