#include "aegis/registry/model.hpp"

#include <array>
#include <utility>

namespace aegis::registry {
namespace {

constexpr std::array<std::pair<credential_format, std::string_view>, 5> format_names{{
    {credential_format::rsa_x509_pem, "RSA_X509_PEM"},
    {credential_format::es256_pem, "ES256_PEM"},
    {credential_format::rsa_pem, "RSA_PEM"},
    {credential_format::es256_x509_pem, "ES256_X509_PEM"},
    {credential_format::ed25519_pem, "ED25519_PEM"},
}};

} // namespace

std::string_view to_string(credential_format f) noexcept {
  for (const auto& [value, name] : format_names) {
    if (value == f) {
      return name;
    }
  }
  return "UNSPECIFIED_PUBLIC_KEY_FORMAT";
}

std::optional<credential_format> parse_credential_format(std::string_view text) noexcept {
  for (const auto& [value, name] : format_names) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

bool is_x509(credential_format f) noexcept {
  return f == credential_format::rsa_x509_pem || f == credential_format::es256_x509_pem;
}

} // namespace aegis::registry
