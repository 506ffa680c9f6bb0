#pragma once
// Checks of RFC 3161 time-stamp tokens shared by the client (tsp_client.cpp), which verifies
// a TSA's reply to its request, and the verifier of stored tokens (timestamp_verifier.cpp).
// Not part of the API.

#include "crypto/error.hpp"
#include "crypto/openssl.hpp"

#include <openssl/pkcs7.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sceau::crypto::tsp {

using ts_tst_info_ptr = std::unique_ptr<TS_TST_INFO, c_deleter<TS_TST_INFO_free>>;

std::string integer_text(const ASN1_INTEGER* value);
std::string name_text(const X509_NAME* name);
/// The short name of an OID OpenSSL knows, else its dotted form.
std::string oid_name(const ASN1_OBJECT* oid);
/// "SHA-256 <hex>", as a message imprint is shown in messages.
std::string describe_imprint(TS_MSG_IMPRINT* imprint);

/// Whether a token may be signed over this digest: SHA-2 or SHA-3 of 256 bits or more.
bool strong_digest(int nid);

/// Steps into the DER SEQUENCE at `p`; returns where its contents end. Throws error(code).
const unsigned char* enter_sequence(const unsigned char*& p, const unsigned char* end, errc code,
                                    std::string_view what);

/// A DER token, nothing after it. Throws error(tsa_response_malformed).
pkcs7_ptr decode_token(std::span<const std::uint8_t> der);

/// The one SignerInfo RFC 3161 section 2.4.2 allows. Throws error(tsa_response_malformed).
PKCS7_SIGNER_INFO* only_signer_info(PKCS7* token);

/// The certificates of the token, then the known ones: where the signer is looked for and
/// where path building finds its intermediates.
x509_stack_ptr candidate_certificates(PKCS7* token, const std::vector<x509_ptr>& known);

/// The candidate the SignerInfo names by issuer and serial (X509_NAME_cmp: names compared
/// in their canonical form). Throws error(tsa_signer_unknown).
X509* find_signer(const PKCS7_ISSUER_AND_SERIAL* id, STACK_OF(X509) * candidates,
                  std::size_t known_count);

/// RFC 3161 section 2.3: a critical extended key usage of timeStamping alone. Throws
/// error(tsa_signer_usage_invalid).
void check_timestamping_usage(X509* signer);

/// The values of the ESS signing certificate attributes among signed attributes (RFC 3161
/// section 2.4.1): SigningCertificate (v1) and SigningCertificateV2, each the DER of its
/// first value, empty when absent. They point into `attributes`. Throws
/// error(tsa_ess_mismatch) for a value that is not a SEQUENCE.
struct ess_attributes {
    std::span<const std::uint8_t> v1;
    std::span<const std::uint8_t> v2;
};
ess_attributes signing_certificate_attributes(const STACK_OF(X509_ATTRIBUTE) * attributes);

/// The ESS signing certificate attributes must identify `signer` (RFC 3161 section 2.4.1,
/// RFC 5035): at least one present, ESSCertIDv2 over a strong digest. Throws
/// error(tsa_ess_mismatch).
void check_signing_certificate(const ess_attributes& ess, X509* signer);

/// The digest the SignerInfo signs with must be strong_digest(); returns its NID. Throws
/// error(tsa_signature_invalid).
int check_signature_digest(const X509_ALGOR* digest);

/// A certificate's validity bound as time_t. Throws error(tsa_response_malformed).
time_t asn1_time(const ASN1_TIME* t);

} // namespace sceau::crypto::tsp
