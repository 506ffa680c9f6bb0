#pragma once

#include "crypto/byte_source.hpp"
#include "crypto/certificate.hpp"
#include "crypto/openssl.hpp"
#include "crypto/sha256.hpp"
#include "crypto/xml.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sceau::crypto {

/// What a XAdES signature that holds says.
struct xades_verified {
    x509_ptr signer; ///< the certificate SigningCertificateV2 names, whose key verified
    std::chrono::system_clock::time_point signing_time;
    std::vector<std::string> references; ///< URIs of the signed data objects, in order
    bytes signature_timestamp;           ///< the SignatureTimeStamp token; empty at level B-B
    sha256_digest timestamp_imprint;     ///< what that token must stamp: SHA-256 of the
                                         ///< exclusive-canonical ds:SignatureValue
};

/// Verifies XAdES baseline signatures (ETSI EN 319 132-1) against trust anchors only.
///
/// Before xmlsec1 runs, the ds:Signature must have the shape Sceau signs: exclusive C14N,
/// an allowed SignatureMethod and DigestMethods; exactly one Reference typed
/// SignedProperties, to the SignedProperties of the one QualifyingProperties of the
/// signature (xades/xa01, xa02 of the hostile corpus); the data references, enveloped
/// (URI "" with enveloped-signature and exclusive C14N) or detached (a URI naming an
/// object, no transform, no fragment); KeyInfo with the certificates. SigningTime must be
/// an xsd:dateTime (xa04); SigningCertificateV2 must name one of the KeyInfo certificates,
/// which must chain to an anchor and be valid at SigningTime. Certificate paths are built
/// once per signer certificate and remembered. Thread-safe: one verifier serves every
/// thread of an audit.
class xades_verifier {
public:
    explicit xades_verifier(std::vector<x509_ptr> anchors);

    /// The enveloped signature that is the last child of the root element. Throws error
    /// with a signature_* code, or bad_certificate when the signer is not trusted.
    xades_verified verify_enveloped(xmlDoc* doc) const;

    /// A detached signature, `signature` being its ds:Signature; every URI it references
    /// must be one of `objects`, read through a detached_objects_scope.
    xades_verified verify_detached(xmlDoc* doc, xmlNode* signature,
                                   const std::vector<detached_object>& objects) const;

private:
    struct path_check {
        std::string problem; ///< empty: the path holds
        time_t not_before = 0;
        time_t not_after = 0; ///< the narrowest validity over the path
    };
    xades_verified verify(xmlDoc* doc, xmlNode* signature, bool enveloped,
                          const std::vector<detached_object>* objects) const;
    path_check check_path(X509* signer, const std::vector<x509_ptr>& carried) const;

    std::vector<x509_ptr> anchors_;
    x509_store_ptr store_;
    certificate_cache certificates_;
    mutable std::mutex mutex_;
    mutable std::map<std::string, path_check> checked_; ///< by signer fingerprint
};

/// Parses an xsd:dateTime as XML Schema 1.0 writes it, with at most one time zone
/// (`Z` or `±hh:mm`); none is taken as UTC. Throws error(bad_encoding).
std::chrono::system_clock::time_point parse_xsd_datetime(std::string_view text);

} // namespace sceau::crypto
