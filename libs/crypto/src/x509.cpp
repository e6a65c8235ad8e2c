#include "aegis/crypto/x509.hpp"

#include "aegis/crypto/errors.hpp"
#include "aegis/crypto/random.hpp"

#include "ossl.hpp"

#include <openssl/pem.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <ctime>
#include <limits>
#include <new>
#include <utility>

namespace aegis::crypto {
namespace {

using std::chrono::seconds;

// Devices with a slightly slow clock must still accept a certificate issued just now.
constexpr seconds backdate{3600};
constexpr seconds max_validity{std::chrono::hours(24 * 366 * 100)};
constexpr int max_chain_depth = 8;
// 112-bit security: refuses RSA < 2048 bits and SHA-1 signatures anywhere in the chain.
constexpr int verify_auth_level = 2;
// PEM input beyond this is refused before it reaches a BIO (whose length is an int).
constexpr std::size_t max_pem_size = 16 * 1024 * 1024;
constexpr std::size_t max_cn_length = 64; // ub-common-name, RFC 5280 appendix A
constexpr std::size_t max_dns_name_length = 253;
constexpr std::string_view aegis_uri_prefix = "aegis:";

struct x509_stack_free {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};
struct crl_stack_free {
  void operator()(STACK_OF(X509_CRL) * s) const noexcept { sk_X509_CRL_free(s); }
};
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), x509_stack_free>;
using crl_stack_ptr = std::unique_ptr<STACK_OF(X509_CRL), crl_stack_free>;
using x509_revoked_ptr = std::unique_ptr<X509_REVOKED, ossl::deleter<X509_REVOKED_free>>;

// Without this, OpenSSL's default callback would prompt on the terminal for a PEM block whose
// headers claim it is encrypted: untrusted input must never block on a tty.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*user*/) {
  return -1;
}

std::optional<ossl::bio_ptr> pem_bio(std::string_view pem) {
  if (pem.size() > max_pem_size) {
    return std::nullopt;
  }
  auto bio = ossl::memory_bio(pem);
  if (!bio) {
    return std::nullopt;
  }
  return bio;
}

const EVP_MD* digest_for(const EVP_PKEY* key) {
  // Ed25519 signs the message itself; every other accepted key signs a SHA-256 digest.
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
}

// ---- time ----

// Seconds since the epoch; nullopt when the field does not parse.
std::optional<std::int64_t> unix_seconds(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ossl::clear_errors();
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                           day{static_cast<unsigned>(tm.tm_mday)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  const auto day_start = sys_days{ymd}.time_since_epoch();
  return duration_cast<seconds>(day_start).count() + std::int64_t{tm.tm_hour} * 3600 +
         std::int64_t{tm.tm_min} * 60 + std::int64_t{tm.tm_sec};
}

// wall_time counts nanoseconds, so it ends in 2262; GeneralizedTime 99991231235959Z (RFC 5280's
// "no expiry") and other far dates saturate instead of overflowing.
wall_time to_wall(std::int64_t unix) {
  constexpr auto max_s =
      std::chrono::duration_cast<seconds>(wall_time::duration::max()).count() - 1;
  constexpr auto min_s =
      std::chrono::duration_cast<seconds>(wall_time::duration::min()).count() + 1;
  if (unix >= max_s) {
    return wall_time::max();
  }
  if (unix <= min_s) {
    return wall_time::min();
  }
  return wall_time{std::chrono::duration_cast<wall_time::duration>(seconds{unix})};
}

wall_time wall_from_asn1(const ASN1_TIME* t) {
  const auto s = unix_seconds(t);
  return s ? to_wall(*s) : wall_time{};
}

std::int64_t unix_of(wall_time t) {
  return std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
}

ossl::asn1_time_ptr asn1_time(std::int64_t unix) {
  return ossl::asn1_time_ptr(ASN1_TIME_set(nullptr, static_cast<std::time_t>(unix)));
}

bool validity_ok(seconds validity) {
  return validity.count() > 0 && validity <= max_validity;
}

struct window {
  std::int64_t not_before;
  std::int64_t not_after;
};

// The validity window of a certificate issued at `now`, kept inside the issuer's own window.
result<window> issue_window(wall_time now, seconds validity, const X509* issuer) {
  if (!validity_ok(validity)) {
    return x509_errc::bad_request;
  }
  const std::int64_t t = unix_of(now);
  window w{t - backdate.count(), t + validity.count()};
  if (issuer != nullptr) {
    const auto issuer_nb = unix_seconds(X509_get0_notBefore(issuer));
    const auto issuer_na = unix_seconds(X509_get0_notAfter(issuer));
    if (!issuer_nb || !issuer_na) {
      return x509_errc::bad_certificate;
    }
    if (*issuer_na <= t) {
      return x509_errc::expired;
    }
    if (*issuer_nb > t) {
      return x509_errc::not_yet_valid;
    }
    w.not_before = std::max(w.not_before, *issuer_nb);
    w.not_after = std::min(w.not_after, *issuer_na);
  }
  return w;
}

// ---- names ----

bool is_identity_char(char c) {
  // Printable ASCII without space; '/' separates the segments of the identity URI.
  return c > 0x20 && c < 0x7f && c != '/';
}

bool valid_identity_token(std::string_view s, std::size_t max_len) {
  return !s.empty() && s.size() <= max_len && std::all_of(s.begin(), s.end(), is_identity_char);
}

// "aegis:projects/{p}/locations/{l}/registries/{r}/devices/{d}" naming `device_id`.
bool identity_uri_names(std::string_view uri, std::string_view device_id) {
  if (uri.substr(0, aegis_uri_prefix.size()) != aegis_uri_prefix) {
    return false;
  }
  uri.remove_prefix(aegis_uri_prefix.size());
  static constexpr std::string_view keys[] = {"projects", "locations", "registries", "devices"};
  for (std::size_t i = 0; i < std::size(keys); ++i) {
    const auto slash = uri.find('/');
    if (slash == std::string_view::npos || uri.substr(0, slash) != keys[i]) {
      return false;
    }
    uri.remove_prefix(slash + 1);
    const auto end = uri.find('/');
    const std::string_view value = uri.substr(0, end);
    if (!valid_identity_token(value, 255)) {
      return false;
    }
    if (i + 1 == std::size(keys)) {
      return end == std::string_view::npos && value == device_id;
    }
    if (end == std::string_view::npos) {
      return false;
    }
    uri.remove_prefix(end + 1);
  }
  return false;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > max_dns_name_length) {
    return false;
  }
  if (name.substr(0, 2) == "*.") {
    name.remove_prefix(2);
  }
  std::size_t label = 0;
  char prev = '.';
  for (const char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') {
        return false;
      }
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-') {
      if ((label == 0 && c == '-') || ++label > 63) {
        return false;
      }
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

std::optional<bytes> parse_ip(const std::string& text) {
  in6_addr v6{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v4);
    return bytes(p, p + sizeof v4);
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v6);
    return bytes(p, p + sizeof v6);
  }
  return std::nullopt;
}

std::string string_of(const ASN1_STRING* s) {
  const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(s));
  const int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) {
    return {};
  }
  return std::string(data, static_cast<std::size_t>(len));
}

enum class cn_state { none, several, undecodable, ok };
struct cn_result {
  cn_state state = cn_state::none;
  std::string value;
};

cn_result unique_cn(const X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) {
    return {};
  }
  if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
    return {cn_state::several, {}};
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ossl::clear_errors();
    return {cn_state::undecodable, {}};
  }
  std::string value(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  // "good.example\0.evil" must not pass for "good.example" anywhere downstream.
  if (value.find('\0') != std::string::npos) {
    return {cn_state::undecodable, {}};
  }
  return {cn_state::ok, std::move(value)};
}

ossl::x509_name_ptr name_with_cn(std::string_view cn) {
  ossl::x509_name_ptr name(X509_NAME_new());
  if (!name || X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(cn.data()),
                                          static_cast<int>(cn.size()), -1, 0) != 1) {
    ossl::clear_errors();
    return nullptr;
  }
  return name;
}

// The SAN extension; `duplicated` is set when the certificate carries more than one, which
// would let two parsers see different names.
ossl::general_names_ptr subject_alt_names(const X509* cert, bool* duplicated = nullptr) {
  int crit = 0;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr));
  if (duplicated != nullptr) {
    *duplicated = names == nullptr && crit == -2;
  }
  ossl::clear_errors();
  return ossl::general_names_ptr(names);
}

template <class Fn>
void for_each_name(const GENERAL_NAMES* names, Fn&& fn) {
  const int n = names != nullptr ? sk_GENERAL_NAME_num(names) : 0;
  for (int i = 0; i < n; ++i) {
    fn(*sk_GENERAL_NAME_value(names, i));
  }
}

std::vector<std::string> ia5_names(const X509* cert, int type) {
  std::vector<std::string> out;
  if (cert == nullptr) {
    return out;
  }
  auto names = subject_alt_names(cert);
  for_each_name(names.get(), [&](const GENERAL_NAME& gn) {
    if (gn.type == type) {
      std::string s = string_of(gn.d.ia5);
      if (!s.empty() && s.find('\0') == std::string::npos) {
        out.push_back(std::move(s));
      }
    }
  });
  return out;
}

// ---- serials ----

std::string serial_to_hex(const ASN1_INTEGER* serial) {
  ossl::bn_ptr bn(serial != nullptr ? ASN1_INTEGER_to_BN(serial, nullptr) : nullptr);
  if (!bn) {
    ossl::clear_errors();
    return {};
  }
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) {
    ossl::clear_errors();
    return {};
  }
  std::string s(hex);
  OPENSSL_free(hex);
  const bool negative = !s.empty() && s.front() == '-';
  std::string digits = negative ? s.substr(1) : s;
  const auto first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "0" : digits.substr(first);
  for (char& c : digits) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return negative ? "-" + digits : digits;
}

ossl::asn1_integer_ptr serial_from_hex(std::string_view hex) {
  constexpr std::size_t max_hex = 64;
  if (hex.empty() || hex.size() > max_hex || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return nullptr;
  }
  const std::string text(hex);
  BIGNUM* raw = nullptr;
  const int parsed = BN_hex2bn(&raw, text.c_str());
  ossl::bn_ptr bn(raw);
  if (!bn || parsed != static_cast<int>(text.size())) {
    ossl::clear_errors();
    return nullptr;
  }
  return ossl::asn1_integer_ptr(BN_to_ASN1_INTEGER(bn.get(), nullptr));
}

result<ossl::asn1_integer_ptr> random_serial() {
  // 16 random bytes read as an unsigned number: positive, at most 17 DER octets (RFC 5280 allows
  // 20), and unpredictable, so a chosen-prefix collision cannot aim at a serial in advance.
  std::uint8_t raw[16];
  for (;;) {
    if (auto r = random_fill(raw); !r) {
      return r.error();
    }
    ossl::bn_ptr bn(BN_bin2bn(raw, sizeof raw, nullptr));
    if (!bn) {
      ossl::clear_errors();
      return x509_errc::issuance_failed;
    }
    if (BN_is_zero(bn.get())) {
      continue;
    }
    ossl::asn1_integer_ptr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    if (!serial) {
      ossl::clear_errors();
      return x509_errc::issuance_failed;
    }
    return serial;
  }
}

// ---- issuing ----

struct cert_spec {
  const X509_NAME* subject = nullptr;
  EVP_PKEY* subject_key = nullptr;
  window validity{};
  const char* basic_constraints = nullptr;
  const char* key_usage = nullptr;
  const char* ext_key_usage = nullptr;      // may be null
  const GENERAL_NAMES* alt_names = nullptr; // may be null
};

bool add_conf_ext(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ossl::x509_ext_ptr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// Builds and signs a v3 certificate. `issuer` null means self-signed.
result<certificate> build_certificate(const cert_spec& spec, X509* issuer, EVP_PKEY* signer) {
  auto serial = random_serial();
  if (!serial) {
    return serial.error();
  }
  ossl::x509_ptr cert(X509_new());
  auto not_before = asn1_time(spec.validity.not_before);
  auto not_after = asn1_time(spec.validity.not_after);
  if (!cert || !not_before || !not_after) {
    ossl::clear_errors();
    return x509_errc::issuance_failed;
  }
  const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : spec.subject;
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            X509_set_serialNumber(cert.get(), serial->get()) == 1 &&
            X509_set_subject_name(cert.get(), spec.subject) == 1 &&
            X509_set_issuer_name(cert.get(), issuer_name) == 1 &&
            X509_set1_notBefore(cert.get(), not_before.get()) == 1 &&
            X509_set1_notAfter(cert.get(), not_after.get()) == 1 &&
            X509_set_pubkey(cert.get(), spec.subject_key) == 1;

  X509V3_CTX v3{};
  X509V3_set_ctx(&v3, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  ok = ok && add_conf_ext(cert.get(), &v3, NID_basic_constraints, spec.basic_constraints) &&
       add_conf_ext(cert.get(), &v3, NID_key_usage, spec.key_usage) &&
       (spec.ext_key_usage == nullptr ||
        add_conf_ext(cert.get(), &v3, NID_ext_key_usage, spec.ext_key_usage)) &&
       // SKI before AKI: a self-signed certificate's AKI is read from its own SKI.
       add_conf_ext(cert.get(), &v3, NID_subject_key_identifier, "hash") &&
       add_conf_ext(cert.get(), &v3, NID_authority_key_identifier, "keyid:always");
  if (ok && spec.alt_names != nullptr && sk_GENERAL_NAME_num(spec.alt_names) > 0) {
    ok = X509_add1_ext_i2d(cert.get(), NID_subject_alt_name,
                           const_cast<GENERAL_NAMES*>(spec.alt_names), 0, X509V3_ADD_DEFAULT) == 1;
  }
  ok = ok && X509_sign(cert.get(), signer, digest_for(signer)) > 0;
  if (!ok) {
    ossl::clear_errors();
    return x509_errc::issuance_failed;
  }
  return certificate::adopt(cert.release());
}

bool push_name(GENERAL_NAMES* names, int type, bytes_view value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  ASN1_STRING* s = ASN1_STRING_type_new(type == GEN_IPADD ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);
  if (gn == nullptr || s == nullptr ||
      ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
    GENERAL_NAME_free(gn);
    ASN1_STRING_free(s);
    return false;
  }
  GENERAL_NAME_set0_value(gn, type, s);
  if (sk_GENERAL_NAME_push(names, gn) <= 0) {
    GENERAL_NAME_free(gn);
    return false;
  }
  return true;
}

// ---- verification ----

x509_errc map_verify_error(int err) {
  switch (err) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
    return x509_errc::expired;
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return x509_errc::not_yet_valid;
  case X509_V_ERR_CERT_REVOKED:
    return x509_errc::revoked;
  case X509_V_ERR_INVALID_PURPOSE:
  case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
    return x509_errc::wrong_key_usage;
  case X509_V_ERR_INVALID_CA:
  case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
  case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    return x509_errc::not_a_ca;
  case X509_V_ERR_CERT_SIGNATURE_FAILURE:
  case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
  case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
  case X509_V_ERR_NO_ISSUER_PUBLIC_KEY:
    return x509_errc::signature_invalid;
  case X509_V_ERR_UNABLE_TO_GET_CRL:
  case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
  case X509_V_ERR_CRL_HAS_EXPIRED:
  case X509_V_ERR_CRL_NOT_YET_VALID:
  case X509_V_ERR_CRL_SIGNATURE_FAILURE:
  case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
  case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
  case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
  case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
  case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
  case X509_V_ERR_DIFFERENT_CRL_SCOPE:
  case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
    return x509_errc::revocation_unknown;
  case X509_V_ERR_EE_KEY_TOO_SMALL:
  case X509_V_ERR_CA_KEY_TOO_SMALL:
  case X509_V_ERR_CA_MD_TOO_WEAK:
    return x509_errc::weak_algorithm;
  case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
    return x509_errc::unsupported_critical;
  case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
  case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
  case X509_V_ERR_INVALID_EXTENSION:
    return x509_errc::bad_certificate;
  default:
    // Chain-building failures and anything not listed: fail closed.
    return x509_errc::untrusted;
  }
}

} // namespace

// ---- certificate ----

certificate::certificate(const certificate& other) noexcept : cert_(other.cert_) {
  if (cert_ != nullptr) {
    X509_up_ref(cert_);
  }
}

certificate& certificate::operator=(const certificate& other) noexcept {
  if (this != &other) {
    certificate copy(other);
    *this = std::move(copy);
  }
  return *this;
}

certificate::certificate(certificate&& other) noexcept
    : cert_(std::exchange(other.cert_, nullptr)) {}

certificate& certificate::operator=(certificate&& other) noexcept {
  if (this != &other) {
    X509_free(cert_);
    cert_ = std::exchange(other.cert_, nullptr);
  }
  return *this;
}

certificate::~certificate() {
  X509_free(cert_);
}

certificate certificate::adopt(x509_st* cert) {
  certificate c;
  c.cert_ = cert;
  return c;
}

result<certificate> certificate::from_pem(std::string_view pem) {
  auto bio = pem_bio(pem);
  X509* raw = bio ? PEM_read_bio_X509(bio->get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (raw == nullptr) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  return adopt(raw);
}

result<certificate> certificate::from_der(bytes_view der) {
  if (der.size() > static_cast<std::size_t>(std::numeric_limits<long>::max())) {
    return x509_errc::bad_certificate;
  }
  const unsigned char* p = der.data();
  ossl::x509_ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  if (p != der.data() + der.size()) {
    return x509_errc::bad_certificate; // trailing bytes
  }
  return adopt(cert.release());
}

result<std::vector<certificate>> certificate::chain_from_pem(std::string_view pem) {
  auto bio = pem_bio(pem);
  if (!bio) {
    return x509_errc::bad_certificate;
  }
  std::vector<certificate> chain;
  ossl::clear_errors();
  while (X509* raw = PEM_read_bio_X509(bio->get(), nullptr, no_passphrase, nullptr)) {
    chain.push_back(adopt(raw));
  }
  // The loop ends at end of input ("no start line") or at a block that does not parse.
  const unsigned long err = ERR_peek_last_error();
  ossl::clear_errors();
  const bool clean_end =
      ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  if (chain.empty() || !clean_end) {
    return x509_errc::bad_certificate;
  }
  return chain;
}

result<std::string> certificate::to_pem() const {
  auto bio = ossl::empty_bio();
  if (cert_ == nullptr || !bio || PEM_write_bio_X509(bio.get(), cert_) != 1) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  return ossl::bio_contents(bio.get());
}

result<bytes> certificate::to_der() const {
  const int len = cert_ != nullptr ? i2d_X509(cert_, nullptr) : 0;
  if (len <= 0) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  if (i2d_X509(cert_, &p) != len) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  return out;
}

std::string certificate::subject_cn() const {
  auto cn = unique_cn(cert_ != nullptr ? X509_get_subject_name(cert_) : nullptr);
  return cn.state == cn_state::ok ? std::move(cn.value) : std::string();
}

std::string certificate::issuer_cn() const {
  auto cn = unique_cn(cert_ != nullptr ? X509_get_issuer_name(cert_) : nullptr);
  return cn.state == cn_state::ok ? std::move(cn.value) : std::string();
}

std::vector<std::string> certificate::dns_names() const {
  return ia5_names(cert_, GEN_DNS);
}

std::vector<std::string> certificate::uris() const {
  return ia5_names(cert_, GEN_URI);
}

std::vector<std::string> certificate::ip_addresses() const {
  std::vector<std::string> out;
  if (cert_ == nullptr) {
    return out;
  }
  auto names = subject_alt_names(cert_);
  for_each_name(names.get(), [&](const GENERAL_NAME& gn) {
    if (gn.type != GEN_IPADD) {
      return;
    }
    const int len = ASN1_STRING_length(gn.d.iPAddress);
    const unsigned char* data = ASN1_STRING_get0_data(gn.d.iPAddress);
    char text[INET6_ADDRSTRLEN] = {};
    if (len == 4 && inet_ntop(AF_INET, data, text, sizeof text) != nullptr) {
      out.emplace_back(text);
    } else if (len == 16 && inet_ntop(AF_INET6, data, text, sizeof text) != nullptr) {
      out.emplace_back(text);
    }
  });
  return out;
}

std::string certificate::serial_hex() const {
  return cert_ != nullptr ? serial_to_hex(X509_get0_serialNumber(cert_)) : std::string();
}

wall_time certificate::not_before() const {
  return cert_ != nullptr ? wall_from_asn1(X509_get0_notBefore(cert_)) : wall_time{};
}

wall_time certificate::not_after() const {
  return cert_ != nullptr ? wall_from_asn1(X509_get0_notAfter(cert_)) : wall_time{};
}

bool certificate::is_ca() const {
  if (cert_ == nullptr) {
    return false;
  }
  const bool ca = (X509_get_extension_flags(cert_) & EXFLAG_CA) != 0;
  ossl::clear_errors();
  return ca;
}

public_key certificate::subject_public_key() const {
  EVP_PKEY* key = cert_ != nullptr ? X509_get_pubkey(cert_) : nullptr;
  if (key == nullptr) {
    ossl::clear_errors();
    return {};
  }
  auto pub = public_key::adopt(key);
  return pub ? std::move(*pub) : public_key{};
}

std::string certificate::fingerprint_sha256() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert_ == nullptr || X509_digest(cert_, EVP_sha256(), md, &len) != 1) {
    ossl::clear_errors();
    return {};
  }
  return to_hex(bytes_view(md, len));
}

// ---- certificate_request ----

certificate_request::certificate_request(certificate_request&& other) noexcept
    : req_(std::exchange(other.req_, nullptr)) {}

certificate_request& certificate_request::operator=(certificate_request&& other) noexcept {
  if (this != &other) {
    X509_REQ_free(req_);
    req_ = std::exchange(other.req_, nullptr);
  }
  return *this;
}

certificate_request::~certificate_request() {
  X509_REQ_free(req_);
}

namespace {

// Proof of possession: the request is signed by the key it asks a certificate for, and that key
// is one Aegis accepts.
result<void> check_csr(X509_REQ* req) {
  EVP_PKEY* key = X509_REQ_get0_pubkey(req);
  if (key == nullptr) {
    ossl::clear_errors();
    return x509_errc::bad_csr;
  }
  if (auto type = classify(key); !type) {
    return type.error();
  }
  const int ok = X509_REQ_verify(req, key);
  ossl::clear_errors();
  if (ok != 1) {
    return x509_errc::csr_signature_invalid;
  }
  return aegis::ok();
}

} // namespace

result<certificate_request> certificate_request::from_pem(std::string_view pem) {
  auto bio = pem_bio(pem);
  ossl::x509_req_ptr req(bio ? PEM_read_bio_X509_REQ(bio->get(), nullptr, no_passphrase, nullptr)
                             : nullptr);
  if (!req) {
    ossl::clear_errors();
    return x509_errc::bad_csr;
  }
  if (auto r = check_csr(req.get()); !r) {
    return r.error();
  }
  certificate_request out;
  out.req_ = req.release();
  return out;
}

result<certificate_request> certificate_request::create(const private_key& key,
                                                        std::string_view common_name) {
  if (key.empty()) {
    return key_errc::no_private_key;
  }
  if (common_name.empty() || common_name.size() > max_cn_length ||
      common_name.find('\0') != std::string_view::npos) {
    return x509_errc::bad_request;
  }
  ossl::x509_req_ptr req(X509_REQ_new());
  auto name = name_with_cn(common_name);
  if (!req || !name || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.native_handle()) != 1 ||
      X509_REQ_sign(req.get(), key.native_handle(), digest_for(key.native_handle())) <= 0) {
    ossl::clear_errors();
    return x509_errc::issuance_failed;
  }
  certificate_request out;
  out.req_ = req.release();
  return out;
}

result<std::string> certificate_request::to_pem() const {
  auto bio = ossl::empty_bio();
  if (req_ == nullptr || !bio || PEM_write_bio_X509_REQ(bio.get(), req_) != 1) {
    ossl::clear_errors();
    return x509_errc::bad_csr;
  }
  return ossl::bio_contents(bio.get());
}

std::string certificate_request::subject_cn() const {
  auto cn = unique_cn(req_ != nullptr ? X509_REQ_get_subject_name(req_) : nullptr);
  return cn.state == cn_state::ok ? std::move(cn.value) : std::string();
}

public_key certificate_request::subject_public_key() const {
  EVP_PKEY* key = req_ != nullptr ? X509_REQ_get_pubkey(req_) : nullptr;
  if (key == nullptr) {
    ossl::clear_errors();
    return {};
  }
  auto pub = public_key::adopt(key);
  return pub ? std::move(*pub) : public_key{};
}

// ---- crl ----

crl::crl(const crl& other) noexcept : crl_(other.crl_) {
  if (crl_ != nullptr) {
    X509_CRL_up_ref(crl_);
  }
}

crl& crl::operator=(const crl& other) noexcept {
  if (this != &other) {
    crl copy(other);
    *this = std::move(copy);
  }
  return *this;
}

crl::crl(crl&& other) noexcept : crl_(std::exchange(other.crl_, nullptr)) {}

crl& crl::operator=(crl&& other) noexcept {
  if (this != &other) {
    X509_CRL_free(crl_);
    crl_ = std::exchange(other.crl_, nullptr);
  }
  return *this;
}

crl::~crl() {
  X509_CRL_free(crl_);
}

crl crl::adopt(X509_crl_st* c) {
  crl out;
  out.crl_ = c;
  return out;
}

result<crl> crl::from_pem(std::string_view pem) {
  auto bio = pem_bio(pem);
  X509_CRL* raw =
      bio ? PEM_read_bio_X509_CRL(bio->get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (raw == nullptr) {
    ossl::clear_errors();
    return x509_errc::bad_crl;
  }
  return adopt(raw);
}

result<std::string> crl::to_pem() const {
  auto bio = ossl::empty_bio();
  if (crl_ == nullptr || !bio || PEM_write_bio_X509_CRL(bio.get(), crl_) != 1) {
    ossl::clear_errors();
    return x509_errc::bad_crl;
  }
  return ossl::bio_contents(bio.get());
}

bool crl::lists(std::string_view serial_hex) const {
  auto serial = serial_from_hex(serial_hex);
  if (crl_ == nullptr || !serial) {
    return false;
  }
  X509_REVOKED* entry = nullptr;
  const int found = X509_CRL_get0_by_serial(crl_, &entry, serial.get());
  ossl::clear_errors();
  // 2 would be a removeFromCRL entry (delta CRLs): not a revocation.
  return found == 1;
}

std::string crl::issuer_cn() const {
  auto cn = unique_cn(crl_ != nullptr ? X509_CRL_get_issuer(crl_) : nullptr);
  return cn.state == cn_state::ok ? std::move(cn.value) : std::string();
}

wall_time crl::this_update() const {
  return crl_ != nullptr ? wall_from_asn1(X509_CRL_get0_lastUpdate(crl_)) : wall_time{};
}

wall_time crl::next_update() const {
  return crl_ != nullptr ? wall_from_asn1(X509_CRL_get0_nextUpdate(crl_)) : wall_time{};
}

// ---- identity ----

result<device_identity> device_identity_of(const certificate& cert) {
  X509* x = cert.native_handle();
  if (x == nullptr) {
    return x509_errc::bad_certificate;
  }
  auto cn = unique_cn(X509_get_subject_name(x));
  if (cn.state == cn_state::several) {
    return x509_errc::ambiguous_identity;
  }
  if (cn.state != cn_state::ok || !valid_identity_token(cn.value, 255)) {
    return x509_errc::no_identity;
  }
  bool duplicated = false;
  auto names = subject_alt_names(x, &duplicated);
  if (duplicated) {
    return x509_errc::ambiguous_identity;
  }
  device_identity id{std::move(cn.value), {}};
  bool conflict = false;
  int aegis_uris = 0;
  for_each_name(names.get(), [&](const GENERAL_NAME& gn) {
    if (gn.type != GEN_URI) {
      return;
    }
    const std::string uri = string_of(gn.d.uniformResourceIdentifier);
    // Scheme names are case-insensitive (RFC 3986 §3.1): "AEGIS:" is an aegis URI too, and
    // must not slip past the consistency check below as "some other URI".
    const std::string_view head = std::string_view(uri).substr(0, aegis_uri_prefix.size());
    const bool is_aegis =
        head.size() == aegis_uri_prefix.size() &&
        std::equal(head.begin(), head.end(), aegis_uri_prefix.begin(),
                   [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
    if (!is_aegis) {
      return;
    }
    ++aegis_uris;
    if (!identity_uri_names(uri, id.device_id)) {
      conflict = true;
    }
    id.uri = uri;
  });
  if (conflict || aegis_uris > 1) {
    return x509_errc::ambiguous_identity;
  }
  return id;
}

// ---- certificate_authority ----

result<certificate_authority> certificate_authority::create(std::string_view common_name,
                                                            std::chrono::seconds validity,
                                                            wall_time now) {
  if (common_name.empty() || common_name.size() > max_cn_length ||
      std::any_of(common_name.begin(), common_name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return x509_errc::bad_request;
  }
  auto w = issue_window(now, validity, nullptr);
  if (!w) {
    return w.error();
  }
  auto key = private_key::generate(key_type::ec_p256);
  if (!key) {
    return key.error();
  }
  auto name = name_with_cn(common_name);
  if (!name) {
    return x509_errc::bad_request;
  }
  cert_spec spec;
  spec.subject = name.get();
  spec.subject_key = key->native_handle();
  spec.validity = *w;
  spec.basic_constraints = "critical,CA:TRUE,pathlen:0";
  spec.key_usage = "critical,keyCertSign,cRLSign";
  auto cert = build_certificate(spec, nullptr, key->native_handle());
  if (!cert) {
    return cert.error();
  }
  return certificate_authority(std::move(*cert), std::move(*key));
}

result<certificate_authority> certificate_authority::load(certificate cert, private_key key) {
  if (cert.empty()) {
    return x509_errc::bad_certificate;
  }
  if (key.empty()) {
    return key_errc::no_private_key;
  }
  X509* x = cert.native_handle();
  const std::uint32_t flags = X509_get_extension_flags(x);
  const std::uint32_t usage = X509_get_key_usage(x);
  ossl::clear_errors();
  if ((flags & EXFLAG_INVALID) != 0) {
    return x509_errc::bad_certificate;
  }
  if ((flags & EXFLAG_CA) == 0 || (usage & KU_KEY_CERT_SIGN) == 0) {
    return x509_errc::not_a_ca;
  }
  const int match = X509_check_private_key(x, key.native_handle());
  ossl::clear_errors();
  if (match != 1) {
    return x509_errc::key_mismatch;
  }
  return certificate_authority(std::move(cert), std::move(key));
}

result<certificate> certificate_authority::issue_server_certificate(const public_key& subject,
                                                                    const server_cert_request& req,
                                                                    wall_time now) const {
  if (subject.empty() || (req.dns_names.empty() && req.ip_addresses.empty())) {
    return x509_errc::bad_request;
  }
  auto w = issue_window(now, req.validity, cert_.native_handle());
  if (!w) {
    return w.error();
  }
  ossl::general_names_ptr names(sk_GENERAL_NAME_new_null());
  if (!names) {
    return x509_errc::issuance_failed;
  }
  // Names are added as GENERAL_NAMEs, never through a config string, where a ',' in a
  // requested name would smuggle in an extra SAN.
  for (const auto& dns : req.dns_names) {
    if (!valid_dns_name(dns)) {
      return x509_errc::bad_request;
    }
    if (!push_name(names.get(), GEN_DNS, as_bytes(dns))) {
      return x509_errc::issuance_failed;
    }
  }
  for (const auto& ip : req.ip_addresses) {
    auto raw = parse_ip(ip);
    if (!raw) {
      return x509_errc::bad_request;
    }
    if (!push_name(names.get(), GEN_IPADD, *raw)) {
      return x509_errc::issuance_failed;
    }
  }
  auto name =
      name_with_cn(req.dns_names.empty() ? req.ip_addresses.front() : req.dns_names.front());
  if (!name) {
    return x509_errc::bad_request;
  }
  cert_spec spec;
  spec.subject = name.get();
  spec.subject_key = subject.native_handle();
  spec.validity = *w;
  spec.basic_constraints = "critical,CA:FALSE";
  spec.key_usage = "critical,digitalSignature";
  spec.ext_key_usage = "serverAuth";
  spec.alt_names = names.get();
  return build_certificate(spec, cert_.native_handle(), key_.native_handle());
}

result<certificate> certificate_authority::sign_device_csr(const certificate_request& csr,
                                                           const device_cert_request& req,
                                                           wall_time now) const {
  if (csr.native_handle() == nullptr) {
    return x509_errc::bad_csr;
  }
  // Checked again here: a request object is not proof that whoever holds it checked it.
  if (auto r = check_csr(csr.native_handle()); !r) {
    return r.error();
  }
  if (!valid_identity_token(req.device_id, max_cn_length)) {
    return x509_errc::bad_request;
  }
  if (!req.device_uri.empty() && !identity_uri_names(req.device_uri, req.device_id)) {
    return x509_errc::bad_request;
  }
  auto w = issue_window(now, req.validity, cert_.native_handle());
  if (!w) {
    return w.error();
  }
  // Identity comes from `req` alone: nothing of the CSR but its key reaches the certificate.
  auto name = name_with_cn(req.device_id);
  ossl::general_names_ptr names(sk_GENERAL_NAME_new_null());
  if (!name || !names) {
    return x509_errc::issuance_failed;
  }
  if (!req.device_uri.empty() && !push_name(names.get(), GEN_URI, as_bytes(req.device_uri))) {
    return x509_errc::issuance_failed;
  }
  cert_spec spec;
  spec.subject = name.get();
  spec.subject_key = X509_REQ_get0_pubkey(csr.native_handle());
  spec.validity = *w;
  spec.basic_constraints = "critical,CA:FALSE";
  spec.key_usage = "critical,digitalSignature";
  spec.ext_key_usage = "clientAuth";
  spec.alt_names = names.get();
  return build_certificate(spec, cert_.native_handle(), key_.native_handle());
}

result<crl> certificate_authority::issue_crl(const std::vector<revoked_entry>& revoked,
                                             wall_time now,
                                             std::chrono::seconds next_update_in) const {
  if (!validity_ok(next_update_in)) {
    return x509_errc::bad_request;
  }
  const std::int64_t t = unix_of(now);
  ossl::x509_crl_ptr list(X509_CRL_new());
  auto this_update = asn1_time(t);
  auto next_update = asn1_time(t + next_update_in.count());
  ossl::asn1_integer_ptr number(ASN1_INTEGER_new());
  if (!list || !this_update || !next_update || !number) {
    ossl::clear_errors();
    return x509_errc::issuance_failed;
  }
  X509* ca = cert_.native_handle();
  bool ok = X509_CRL_set_version(list.get(), X509_CRL_VERSION_2) == 1 &&
            X509_CRL_set_issuer_name(list.get(), X509_get_subject_name(ca)) == 1 &&
            X509_CRL_set1_lastUpdate(list.get(), this_update.get()) == 1 &&
            X509_CRL_set1_nextUpdate(list.get(), next_update.get()) == 1;
  for (const auto& entry : revoked) {
    auto serial = serial_from_hex(entry.serial_hex);
    auto when = asn1_time(unix_of(entry.revoked_at));
    if (!serial || !when) {
      ossl::clear_errors();
      return x509_errc::bad_request;
    }
    x509_revoked_ptr rev(X509_REVOKED_new());
    ok = ok && rev && X509_REVOKED_set_serialNumber(rev.get(), serial.get()) == 1 &&
         X509_REVOKED_set_revocationDate(rev.get(), when.get()) == 1 &&
         X509_CRL_add0_revoked(list.get(), rev.get()) == 1;
    if (ok) {
      (void)rev.release(); // owned by the CRL now
    }
  }
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  X509V3_CTX v3{};
  X509V3_set_ctx(&v3, ca, nullptr, nullptr, list.get(), 0);
  ossl::x509_ext_ptr aki(
      ok ? X509V3_EXT_nconf_nid(nullptr, &v3, NID_authority_key_identifier, "keyid:always")
         : nullptr);
  ok =
      ok && X509_CRL_sort(list.get()) == 1 &&
      ASN1_INTEGER_set_int64(number.get(), millis.count()) == 1 &&
      X509_CRL_add1_ext_i2d(list.get(), NID_crl_number, number.get(), 0, X509V3_ADD_DEFAULT) == 1 &&
      aki && X509_CRL_add_ext(list.get(), aki.get(), -1) == 1 &&
      X509_CRL_sign(list.get(), key_.native_handle(), digest_for(key_.native_handle())) > 0;
  if (!ok) {
    ossl::clear_errors();
    return x509_errc::issuance_failed;
  }
  return crl::adopt(list.release());
}

// ---- trust_store ----

struct trust_store::impl {
  ossl::x509_store_ptr store{X509_STORE_new()};
  std::vector<certificate> anchors;
  std::vector<crl> crls; // at most one per issuer

  const crl* crl_for(const X509_NAME* issuer) const {
    for (const auto& c : crls) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(c.native_handle()), issuer) == 0) {
        return &c;
      }
    }
    return nullptr;
  }

  // CRL_CHECK_ALL demands a CRL for every issuer in the chain; waive that only for issuers
  // that never had one, so a CRL that exists but does not fit still fails closed.
  static int verify_callback(int ok, X509_STORE_CTX* ctx) {
    if (ok == 1) {
      return 1;
    }
    if (X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
      const auto* self = static_cast<const impl*>(X509_STORE_CTX_get_app_data(ctx));
      X509* current = X509_STORE_CTX_get_current_cert(ctx);
      if (self != nullptr && current != nullptr &&
          self->crl_for(X509_get_issuer_name(current)) == nullptr) {
        return 1;
      }
    }
    return 0;
  }
};

trust_store::trust_store() : impl_(std::make_unique<impl>()) {
  if (!impl_->store) {
    throw std::bad_alloc();
  }
}

trust_store::trust_store(trust_store&&) noexcept = default;
trust_store& trust_store::operator=(trust_store&&) noexcept = default;
trust_store::~trust_store() = default;

result<void> trust_store::add_anchor(const certificate& ca) {
  X509* x = ca.native_handle();
  if (x == nullptr) {
    return x509_errc::bad_certificate;
  }
  const std::uint32_t flags = X509_get_extension_flags(x);
  ossl::clear_errors();
  if ((flags & EXFLAG_INVALID) != 0) {
    return x509_errc::bad_certificate;
  }
  // With partial chains allowed, an end-entity anchor would vouch for itself.
  if ((flags & EXFLAG_CA) == 0) {
    return x509_errc::not_a_ca;
  }
  if (X509_STORE_add_cert(impl_->store.get(), x) != 1) {
    ossl::clear_errors();
    return x509_errc::bad_certificate;
  }
  impl_->anchors.push_back(ca);
  return ok();
}

result<void> trust_store::add_crl(const crl& list) {
  X509_CRL* c = list.native_handle();
  if (c == nullptr) {
    return x509_errc::bad_crl;
  }
  const X509_NAME* issuer = X509_CRL_get_issuer(c);
  bool issuer_is_anchor = false;
  bool verified = false;
  for (const auto& a : impl_->anchors) {
    if (X509_NAME_cmp(X509_get_subject_name(a.native_handle()), issuer) == 0) {
      issuer_is_anchor = true;
      verified = verified || X509_CRL_verify(c, X509_get0_pubkey(a.native_handle())) == 1;
    }
  }
  ossl::clear_errors();
  // CRLs of intermediates are checked during verification, against the chain's issuer.
  if (issuer_is_anchor && !verified) {
    return x509_errc::bad_crl;
  }
  for (auto& held : impl_->crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(held.native_handle()), issuer) != 0) {
      continue;
    }
    // Refusing an older list keeps a replayed CRL from un-revoking a certificate.
    const int order = ASN1_TIME_compare(X509_CRL_get0_lastUpdate(c),
                                        X509_CRL_get0_lastUpdate(held.native_handle()));
    ossl::clear_errors();
    if (order < 0 || order == -2) {
      return x509_errc::bad_crl;
    }
    held = list;
    return ok();
  }
  impl_->crls.push_back(list);
  return ok();
}

result<void> trust_store::verify(const certificate& leaf,
                                 const std::vector<certificate>& intermediates,
                                 cert_purpose purpose, wall_time now) const {
  if (leaf.empty()) {
    return x509_errc::bad_certificate;
  }
  x509_stack_ptr untrusted(sk_X509_new_null());
  crl_stack_ptr crls(sk_X509_CRL_new_null());
  ossl::x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
  if (!untrusted || !crls || !ctx) {
    ossl::clear_errors();
    return x509_errc::untrusted;
  }
  for (const auto& c : intermediates) {
    if (!c.empty() && sk_X509_push(untrusted.get(), c.native_handle()) <= 0) {
      return x509_errc::untrusted;
    }
  }
  for (const auto& c : impl_->crls) {
    if (sk_X509_CRL_push(crls.get(), c.native_handle()) <= 0) {
      return x509_errc::untrusted;
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), impl_->store.get(), leaf.native_handle(), untrusted.get()) !=
      1) {
    ossl::clear_errors();
    return x509_errc::untrusted;
  }
  // Per-verification CRLs: the store itself would keep every CRL ever added and might pick a
  // stale one over its replacement.
  X509_STORE_CTX_set0_crls(ctx.get(), crls.get());
  X509_STORE_CTX_set_app_data(ctx.get(), impl_.get());
  X509_STORE_CTX_set_verify_cb(ctx.get(), &impl::verify_callback);

  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<std::time_t>(unix_of(now)));
  X509_VERIFY_PARAM_set_depth(param, max_chain_depth);
  X509_VERIFY_PARAM_set_auth_level(param, verify_auth_level);
  unsigned long flags = X509_V_FLAG_PARTIAL_CHAIN;
  if (!impl_->crls.empty()) {
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  }
  X509_VERIFY_PARAM_set_flags(param, flags);
  int purpose_id = 0;
  switch (purpose) {
  case cert_purpose::any:
    break;
  case cert_purpose::tls_server:
    purpose_id = X509_PURPOSE_SSL_SERVER;
    break;
  case cert_purpose::tls_client:
    purpose_id = X509_PURPOSE_SSL_CLIENT;
    break;
  }
  if (purpose_id != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose_id) != 1) {
    ossl::clear_errors();
    return x509_errc::untrusted;
  }

  const int rc = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ossl::clear_errors();
  if (rc == 1) {
    return ok();
  }
  return map_verify_error(err == X509_V_OK ? X509_V_ERR_UNSPECIFIED : err);
}

result<device_identity> trust_store::verify_device(const certificate& leaf,
                                                   const std::vector<certificate>& intermediates,
                                                   wall_time now) const {
  if (auto r = verify(leaf, intermediates, cert_purpose::tls_client, now); !r) {
    return r.error();
  }
  return device_identity_of(leaf);
}

} // namespace aegis::crypto
