#include "aegis/crypto/errors.hpp"

namespace aegis::crypto {

std::string_view describe(key_errc e) noexcept {
  switch (e) {
  case key_errc::unsupported_key_type:
    return "unsupported key type (use EC P-256, RSA 2048-4096 or Ed25519)";
  case key_errc::unsupported_curve:
    return "unsupported elliptic curve (only P-256 is accepted)";
  case key_errc::rsa_too_small:
    return "RSA key smaller than 2048 bits";
  case key_errc::rsa_too_large:
    return "RSA key larger than 4096 bits";
  case key_errc::bad_pem:
    return "not a valid PEM key";
  case key_errc::bad_der:
    return "not a valid DER key";
  case key_errc::bad_passphrase:
    return "passphrase does not decrypt the private key";
  case key_errc::passphrase_required:
    return "private key is encrypted and needs a passphrase";
  case key_errc::no_private_key:
    return "operation needs a private key";
  case key_errc::generation_failed:
    return "key generation failed";
  case key_errc::encoding_failed:
    return "key encoding failed";
  }
  return "unknown key error";
}

std::string_view describe(sig_errc e) noexcept {
  switch (e) {
  case sig_errc::alg_key_mismatch:
    return "signature algorithm does not match the key type";
  case sig_errc::bad_signature:
    return "signature does not verify";
  case sig_errc::bad_signature_length:
    return "signature has the wrong length for the algorithm";
  case sig_errc::signing_failed:
    return "signing failed";
  }
  return "unknown signature error";
}

std::string_view describe(jwt_errc e) noexcept {
  switch (e) {
  case jwt_errc::too_large:
    return "token exceeds the size limit";
  case jwt_errc::malformed:
    return "token is not header.payload.signature";
  case jwt_errc::bad_base64:
    return "token segment is not canonical base64url";
  case jwt_errc::bad_header:
    return "token header is not a valid JOSE header";
  case jwt_errc::bad_payload:
    return "token payload is not a JSON object";
  case jwt_errc::duplicate_key:
    return "token JSON repeats a member name";
  case jwt_errc::alg_none:
    return "unsigned tokens (alg none) are refused";
  case jwt_errc::hmac_refused:
    return "HMAC tokens are refused";
  case jwt_errc::unsupported_alg:
    return "token algorithm is not supported";
  case jwt_errc::crit_present:
    return "token has critical header extensions";
  case jwt_errc::key_mismatch:
    return "no credential has the key type the token algorithm requires";
  case jwt_errc::bad_signature_length:
    return "token signature has the wrong length";
  case jwt_errc::der_signature:
    return "ES256 signature is DER-encoded instead of raw R||S";
  case jwt_errc::bad_signature:
    return "token signature does not verify";
  case jwt_errc::missing_claim:
    return "token lacks a required claim (iat, exp, aud)";
  case jwt_errc::bad_claim_type:
    return "token claim has the wrong type or range";
  case jwt_errc::expired:
    return "token has expired";
  case jwt_errc::not_yet_valid:
    return "token is issued in the future";
  case jwt_errc::lifetime_too_long:
    return "token lifetime exceeds the maximum";
  case jwt_errc::bad_lifetime:
    return "token expires before it is issued";
  case jwt_errc::bad_audience:
    return "token audience is not the expected project";
  case jwt_errc::no_candidate_keys:
    return "no credential to verify the token with";
  case jwt_errc::bad_mint_input:
    return "claims to mint are not a valid JSON object or redefine a registered claim";
  }
  return "unknown token error";
}

std::string_view describe(x509_errc e) noexcept {
  switch (e) {
  case x509_errc::bad_certificate:
    return "not a valid certificate";
  case x509_errc::bad_csr:
    return "not a valid certificate signing request";
  case x509_errc::csr_signature_invalid:
    return "certificate signing request signature does not verify";
  case x509_errc::bad_crl:
    return "not a valid certificate revocation list";
  case x509_errc::untrusted:
    return "certificate does not chain to a trusted authority";
  case x509_errc::expired:
    return "certificate has expired";
  case x509_errc::not_yet_valid:
    return "certificate is not yet valid";
  case x509_errc::revoked:
    return "certificate is revoked";
  case x509_errc::wrong_key_usage:
    return "certificate key usage does not allow this purpose";
  case x509_errc::not_a_ca:
    return "issuer is not a certificate authority";
  case x509_errc::no_identity:
    return "certificate names no device identity";
  case x509_errc::issuance_failed:
    return "certificate issuance failed";
  case x509_errc::signature_invalid:
    return "certificate signature does not verify";
  case x509_errc::revocation_unknown:
    return "revocation status cannot be established (CRL expired, not yet valid or invalid)";
  case x509_errc::ambiguous_identity:
    return "certificate names more than one or conflicting device identities";
  case x509_errc::bad_request:
    return "certificate request has an invalid name, address, URI, serial or validity";
  case x509_errc::key_mismatch:
    return "private key does not match the certificate";
  case x509_errc::weak_algorithm:
    return "certificate key or signature algorithm is too weak";
  case x509_errc::unsupported_critical:
    return "certificate has an unsupported critical extension";
  }
  return "unknown certificate error";
}

std::string_view describe(aead_errc e) noexcept {
  switch (e) {
  case aead_errc::bad_key_size:
    return "key has the wrong size";
  case aead_errc::bad_envelope:
    return "sealed data is malformed";
  case aead_errc::decryption_failed:
    return "sealed data does not open with this key and associated data";
  case aead_errc::encryption_failed:
    return "encryption failed";
  case aead_errc::random_failed:
    return "random number generator failed";
  case aead_errc::bad_nonce_size:
    return "nonce has the wrong size";
  case aead_errc::kdf_failed:
    return "key derivation failed";
  }
  return "unknown encryption error";
}

} // namespace aegis::crypto
