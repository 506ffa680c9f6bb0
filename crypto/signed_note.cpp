#include "crypto/signed_note.hpp"

#include "crypto/encoding.hpp"
#include "crypto/error.hpp"

#include <libxml/xmlstring.h>
#include <openssl/x509.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace sceau::crypto {
namespace {

constexpr std::string_view em_dash_space = "\xE2\x80\x94 "; // U+2014, then U+0020

[[noreturn]] void malformed(const std::string& what) {
    throw error(errc::note_malformed, what);
}

/// Key names we sign with: printable ASCII without space or '+' (C2SP signed-note asks
/// for no Unicode space and no '+'; staying in ASCII keeps every space out).
bool usable_key_name(std::string_view name) {
    if (name.empty() || name.size() > 256)
        return false;
    for (char c : name) {
        if (c <= ' ' || c >= 0x7f || c == '+')
            return false;
    }
    return true;
}

bool has_control(std::string_view line) {
    for (char c : line) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

bytes rsa_type() {
    bytes out(1 + note_rsa_identifier.size());
    out[0] = 0xff;
    std::copy(note_rsa_identifier.begin(), note_rsa_identifier.end(), out.begin() + 1);
    return out;
}

/// Another reference to the caller's key, which stays the caller's too.
evp_pkey_ptr share(EVP_PKEY* key) {
    note_key_type(key);
    EVP_PKEY_up_ref(key);
    return evp_pkey_ptr(key);
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        out.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

} // namespace

bytes public_key_der(EVP_PKEY* key) {
    int n = i2d_PUBKEY(key, nullptr);
    if (n <= 0)
        throw_openssl(errc::bad_key, "encoding a public key");
    bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    if (i2d_PUBKEY(key, &p) != n)
        throw_openssl(errc::bad_key, "encoding a public key");
    return out;
}

bytes note_key_type(EVP_PKEY* key) {
    if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
        char group[32] = {};
        std::size_t length = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) == 1 &&
            std::string_view(group, length) == "prime256v1")
            return {note_ecdsa_p256};
    }
    if (key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) >= 2048)
        return rsa_type();
    throw error(errc::bad_key, "a note key is an ECDSA P-256 key or RSA of 2048 bits or more");
}

std::uint32_t note_key_id(std::string_view name, std::span<const std::uint8_t> type,
                          std::span<const std::uint8_t> public_key) {
    const std::uint8_t newline[] = {0x0a};
    sha256 h;
    bool ecdsa = type.size() == 1 && type[0] == note_ecdsa_p256;
    if (!ecdsa) {
        h.update(name);
        h.update(newline);
        h.update(type);
    }
    h.update(public_key);
    auto digest = h.finish();
    return std::uint32_t(digest[0]) << 24 | std::uint32_t(digest[1]) << 16 |
           std::uint32_t(digest[2]) << 8 | std::uint32_t(digest[3]);
}

std::string checkpoint_text(const checkpoint& c) {
    if (c.origin.empty() || has_control(c.origin))
        malformed("the checkpoint origin is empty or holds a control character");
    std::string out =
        c.origin + "\n" + std::to_string(c.tree_size) + "\n" + to_base64(c.root_hash) + "\n";
    for (const auto& line : c.extensions) {
        if (line.empty() || has_control(line))
            malformed("a checkpoint extension line is empty or holds a control character");
        out += line + "\n";
    }
    return out;
}

checkpoint parse_checkpoint(std::string_view text) {
    // C2SP tlog-checkpoint: origin, size, root hash, then optional non-empty lines.
    if (text.size() > note_max_bytes || text.empty() || text.back() != '\n')
        malformed("a checkpoint is at most 64 KiB of lines, each ending in a newline");
    auto lines = lines_of(text);
    if (lines.size() < 3)
        malformed("a checkpoint has an origin, a tree size and a root hash");

    checkpoint c;
    c.origin = std::string(lines[0]);
    if (c.origin.empty() || has_control(c.origin))
        malformed("the checkpoint origin is empty or holds a control character");

    auto size = lines[1];
    auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), c.tree_size);
    if (ec != std::errc{} || end != size.data() + size.size() ||
        (size.size() > 1 && size.front() == '0'))
        malformed("the checkpoint tree size is not a decimal number without leading zeros");

    bytes root;
    try {
        root = from_base64(lines[2]);
    } catch (const error&) {
        malformed("the checkpoint root hash is not base64");
    }
    if (root.size() != c.root_hash.size() || to_base64(root) != lines[2])
        malformed("the checkpoint root hash is not 32 bytes in canonical base64");
    std::copy(root.begin(), root.end(), c.root_hash.begin());

    for (std::size_t i = 3; i < lines.size(); ++i) {
        if (lines[i].empty() || has_control(lines[i]))
            malformed("a checkpoint extension line is empty or holds a control character");
        c.extensions.emplace_back(lines[i]);
    }
    return c;
}

signed_note parse_signed_note(std::string_view note) {
    if (note.size() > note_max_bytes)
        malformed("a signed note is at most 64 KiB");
    for (char c : note) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f)
            malformed("a signed note holds a control character other than newline");
    }
    std::string copy(note); // NUL-terminated for the UTF-8 check; NUL was refused above
    if (!xmlCheckUTF8(reinterpret_cast<const xmlChar*>(copy.c_str())))
        malformed("a signed note is not UTF-8");
    if (note.empty() || note.back() != '\n')
        malformed("a signed note ends with a newline");

    // The text ends at the last blank line; signature lines follow it.
    auto blank = note.rfind("\n\n");
    if (blank == std::string_view::npos)
        malformed("a signed note has a blank line before its signatures");
    signed_note out;
    out.text = std::string(note.substr(0, blank + 1));
    auto block = note.substr(blank + 2);
    if (block.empty())
        malformed("a signed note has at least one signature line");

    for (auto line : lines_of(block)) {
        if (out.signatures.size() == note_max_signatures)
            malformed("a signed note has too many signature lines");
        if (line.substr(0, em_dash_space.size()) != em_dash_space)
            malformed("a signature line starts with an em dash and a space");
        line.remove_prefix(em_dash_space.size());
        auto space = line.find(' ');
        if (space == 0 || space == std::string_view::npos)
            malformed("a signature line is a key name, a space and a signature");

        note_signature s;
        s.name = std::string(line.substr(0, space));
        bytes raw;
        try {
            raw = from_base64(line.substr(space + 1));
        } catch (const error&) {
            malformed("a note signature is not base64");
        }
        if (raw.size() < 5 || line.find(' ', space + 1) != std::string_view::npos)
            malformed("a note signature is a key ID and a signature");
        s.key_id = std::uint32_t(raw[0]) << 24 | std::uint32_t(raw[1]) << 16 |
                   std::uint32_t(raw[2]) << 8 | std::uint32_t(raw[3]);
        s.signature.assign(raw.begin() + 4, raw.end());
        out.signatures.push_back(std::move(s));
    }
    return out;
}

note_verifier::note_verifier(std::string name, evp_pkey_ptr public_key)
    : name_(std::move(name))
    , key_(std::move(public_key)) {
    if (!usable_key_name(name_))
        throw error(errc::bad_key, "a note key name is printable ASCII without space or '+'");
    type_ = note_key_type(key_.get());
    key_id_ = note_key_id(name_, type_, public_key_der(key_.get()));
}

note_verifier note_verifier::from_verifier_key(std::string_view text) {
    auto first = text.find('+');
    auto second = first == std::string_view::npos ? first : text.find('+', first + 1);
    if (second == std::string_view::npos || second - first != 9)
        throw error(errc::bad_key, "a verifier key is NAME+KEYID+KEY");
    std::uint32_t id = 0;
    auto hex = text.substr(first + 1, 8);
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), id, 16);
    if (ec != std::errc{} || end != hex.data() + hex.size())
        throw error(errc::bad_key, "a verifier key's ID is 8 hex digits");

    bytes raw;
    try {
        raw = from_base64(text.substr(second + 1));
    } catch (const error&) {
        throw error(errc::bad_key, "a verifier key's key is not base64");
    }
    bytes type = {note_ecdsa_p256};
    if (!raw.empty() && raw[0] == 0xff)
        type = rsa_type();
    if (raw.size() <= type.size() || !std::equal(type.begin(), type.end(), raw.begin()))
        throw error(errc::bad_key, "a verifier key is of a type other than ECDSA or RSA");
    const unsigned char* p = raw.data() + type.size();
    evp_pkey_ptr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(raw.size() - type.size())));
    if (!key || p != raw.data() + raw.size())
        throw_openssl(errc::bad_key, "a verifier key's public key");

    note_verifier out(std::string(text.substr(0, first)), std::move(key));
    if (out.type() != type)
        throw error(errc::bad_key, "a verifier key's type is not its key's");
    if (out.key_id() != id)
        throw error(errc::bad_key, "a verifier key's ID does not match its name and key");
    return out;
}

bool note_verifier::verify(std::string_view text, std::span<const std::uint8_t> signature) const {
    evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1)
        throw_openssl(errc::openssl_failure, "note verification");
    int ok = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                              reinterpret_cast<const unsigned char*>(text.data()), text.size());
    drain_openssl_errors(); // a bad signature leaves its reason on the queue
    return ok == 1;
}

std::string note_verifier::open(std::string_view note) const {
    auto parsed = parse_signed_note(note);
    for (const auto& s : parsed.signatures) {
        if (s.name != name_ || s.key_id != key_id_)
            continue; // another key's: ignored, as the note format requires
        if (!verify(parsed.text, s.signature))
            throw error(errc::note_signature_invalid,
                        "the signature of " + name_ + " on the note does not verify");
        return parsed.text;
    }
    throw error(errc::note_key_unknown, "the note carries no signature of " + name_);
}

note_signer::note_signer(std::string name, EVP_PKEY* key)
    : key_(share(key))
    , verifier_(std::move(name), share(key)) {}

std::string note_signer::sign(std::string_view text) const {
    if (text.empty() || text.back() != '\n' || text.find("\n\n") != std::string_view::npos ||
        text.size() > note_max_bytes / 2)
        malformed("a note text is non-empty lines, each ending in a newline");
    for (char c : text) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f)
            malformed("a note text holds a control character other than newline");
    }

    evp_md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length,
                       reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1)
        throw_openssl(errc::signing_failed, "signing a note");
    bytes signature(4 + length);
    auto id = key_id();
    signature[0] = static_cast<std::uint8_t>(id >> 24);
    signature[1] = static_cast<std::uint8_t>(id >> 16);
    signature[2] = static_cast<std::uint8_t>(id >> 8);
    signature[3] = static_cast<std::uint8_t>(id);
    if (EVP_DigestSign(ctx.get(), signature.data() + 4, &length,
                       reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1)
        throw_openssl(errc::signing_failed, "signing a note");
    signature.resize(4 + length); // DER signatures vary in length

    return std::string(text) + "\n" + std::string(em_dash_space) + name() + " " +
           to_base64(signature) + "\n";
}

std::string note_signer::verifier_key() const {
    char id[9];
    std::snprintf(id, sizeof id, "%08x", key_id());
    bytes key = verifier_.type();
    auto spki = public_key_der(key_.get());
    key.insert(key.end(), spki.begin(), spki.end());
    return name() + "+" + id + "+" + to_base64(key);
}

} // namespace sceau::crypto
