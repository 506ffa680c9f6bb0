#pragma once

namespace sceau::crypto {

/// How a verifier of stored evidence checks a signature once its shape holds.
enum class verification_path {
    /// The signed bytes are canonicalised (libxml2) or read from the DER here, hashed and
    /// verified with OpenSSL's EVP interface, with a key context kept per certificate: what
    /// an audit of a whole archive uses.
    direct,
    /// The libraries' own verification: xmlsec1 for XML signatures, OpenSSL's PKCS#7 code
    /// for time-stamp tokens. The reference the direct path is compared with
    /// (`sceau audit --cross-check`, the agreement tests).
    library,
};

} // namespace sceau::crypto
