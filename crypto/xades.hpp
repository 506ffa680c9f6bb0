#pragma once

#include "crypto/byte_source.hpp"
#include "crypto/certificate.hpp"
#include "crypto/timestamp.hpp"
#include "crypto/xml.hpp"

#include <chrono>
#include <mutex>
#include <string>

struct _xmlSecKey;

namespace sceau::crypto {

/// XAdES namespaces and URIs (ETSI EN 319 132-1).
namespace xades {
inline constexpr const char* ns = "http://uri.etsi.org/01903/v1.3.2#";
inline constexpr const char* signed_properties_type = "http://uri.etsi.org/01903#SignedProperties";
} // namespace xades

/// Seals with XAdES baseline signatures at level B-T (ETSI EN 319 132-1 clause 6): ECDSA
/// or RSA with SHA-256, exclusive canonicalisation, SigningTime, SigningCertificateV2, a
/// DataObjectFormat per signed object, and a SignatureTimeStamp over the canonical
/// SignatureValue. Enveloped for evidence records, detached for containers. Thread-safe.
class xades_signer {
public:
    xades_signer(const signer_identity& seal, timestamp_authority& tsa);
    ~xades_signer();
    xades_signer(const xades_signer&) = delete;
    xades_signer& operator=(const xades_signer&) = delete;

    struct sealed {
        std::string bytes;         ///< the sealed document, as it must be stored and served
        timestamp_token timestamp; ///< the SignatureTimeStamp
    };

    /// Appends the signature as the last child of the root element and returns the
    /// serialised document. `id` names the signature (`Id` attributes derive from it).
    /// Throws error(signing_failed) or a tsa_* error; on a throw nothing is usable.
    sealed seal(xmlDoc* doc, const std::string& id, std::chrono::system_clock::time_point now);

    /// A detached signature over `objects` (one ds:Reference each, by URI, no transform),
    /// alone in an asic:XAdESSignatures document as META-INF/signatures0.xml of an ASiC-E
    /// container holds it (EN 319 162-1 clause 4.4.3.2). The objects are read while
    /// signing, through a detached_objects_scope.
    sealed seal_detached(const std::vector<detached_object>& objects, const std::string& id,
                         std::chrono::system_clock::time_point now);

    X509* certificate() const;

private:
    struct reference {
        std::string uri;
        bool enveloped;
        std::string media_type;
    };
    timestamp_token sign(xmlDoc* doc, xmlNode* parent, const std::string& id,
                         std::chrono::system_clock::time_point now,
                         const std::vector<reference>& references);
    _xmlSecKey* acquire_key();
    void release_key(_xmlSecKey* key);

    _xmlSecKey* key_; ///< owned; the original of the copies signatures use
    std::mutex keys_mutex_;
    std::vector<_xmlSecKey*> idle_keys_; ///< owned copies not in use by a signature
    std::vector<x509_ptr> chain_;
    bytes certificate_der_;
    timestamp_authority& tsa_;
};

} // namespace sceau::crypto
