#include "aegis/ctl/app.hpp"

#include "aegis/base/bytes.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/crypto/x509.hpp"
#include "aegis/ctl/api.hpp"
#include "aegis/ctl/format.hpp"
#include "aegis/ctl/keyfiles.hpp"
#include "aegis/ctl/profile.hpp"
#include "pkcs11_token.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>

namespace aegis::ctl {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct options {
  // Global.
  std::string config;
  std::string server;
  std::string ca_file;
  bool system_roots = false;
  bool json_output = false;
  std::string project;
  std::string location;
  int timeout = 30;
  // login
  std::string token;
  std::string token_file;
  // Shared by the leaf commands (only one runs).
  std::string id;
  std::string registry;
  std::string gateway;
  std::vector<std::string> ids;
  int page_size = 0;
  std::string page_token;
  bool no_mqtt = false;
  bool no_http = false;
  std::string log_level;
  std::string key_type;
  std::string out;
  std::string public_key;
  std::string format;
  std::string expiration;
  bool pkcs11 = false;
  std::string module;
  std::string token_label;
  std::string key_label;
  std::string pin_env;
  std::string pin_file;
  std::string pin; // only to refuse it: a PIN on the command line is visible to every user
  int rsa_bits = 2048;
  bool blocked = false;
  bool is_gateway = false;
  std::vector<std::string> metadata;
  std::vector<std::string> labels;
  std::string data;
  std::string file;
  std::int64_t version = 0;
  std::string subfolder;
  int limit = 0;
  std::size_t index = 0;
  std::string cert;
  std::string verification_cert;
  std::string csr;
  std::string device;
  int days = 0;
  std::string reason;
  std::string scope;
  std::string description;
  std::int64_t ttl = 0;
  std::int64_t after = 0;
  std::string target;
  std::string actor;
  std::string action;
  // Options whose presence matters.
  // Options whose presence matters, by name; one name may be declared by several subcommands
  // (only one of which is parsed).
  std::multimap<std::string, CLI::Option*> given;
  void track(const std::string& name, CLI::Option* opt) { given.emplace(name, opt); }
  bool has(const std::string& name) const {
    const auto [first, last] = given.equal_range(name);
    for (auto it = first; it != last; ++it) {
      if (it->second->count() > 0) {
        return true;
      }
    }
    return false;
  }
};

struct answer {
  json value;
  std::string raw;
};

// A key pair generated in a PKCS#11 token, with the session that can destroy it again.
struct token_key {
  std::unique_ptr<pkcs11::token> token;
  pkcs11::generated_key key;
};

std::map<std::string, std::string> parse_pairs(const std::vector<std::string>& items,
                                               const char* what) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw usage_error(std::string(what) + " must be KEY=VALUE (got \"" + item + "\")");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// Printable UTF-8 text as is, anything else as base64.
std::string show_data(const std::string& b64) {
  const auto decoded = base64_decode(b64);
  if (!decoded) {
    return b64;
  }
  for (const auto c : *decoded) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      return "base64:" + b64;
    }
  }
  return std::string(as_string_view(*decoded));
}

std::string fingerprint_of(const json& credential) {
  const json& pk = credential.contains("publicKey") ? credential["publicKey"] : json();
  const std::string pem = cell(pk, "key");
  if (auto k = crypto::public_key::from_pem(pem)) {
    if (auto f = k->fingerprint_sha256()) {
      return "sha256:" + f->substr(0, 16);
    }
  }
  if (auto c = crypto::certificate::from_pem(pem)) {
    return "cert-sha256:" + c->fingerprint_sha256().substr(0, 16);
  }
  return "?";
}

class session {
public:
  session(options& o, std::ostream& out, std::ostream& err, const transport_factory& connect)
      : o_(o), out_(out), err_(err), connect_(connect) {}

  const std::string& token() const { return ep_.token; }
  std::string_view pin() const { return as_string_view(pin_.view()); }

  // --- plumbing ----------------------------------------------------------------------------

  fs::path profile_path() const {
    return o_.config.empty() ? default_profile_path() : fs::path(o_.config);
  }

  void load() {
    if (loaded_) {
      return;
    }
    loaded_ = true;
    const char* env_token = std::getenv("AEGISCTL_TOKEN");
    const bool have_env_token = env_token != nullptr && *env_token != '\0';
    const fs::path path = profile_path();
    std::error_code ec;
    if (!(have_env_token && !o_.server.empty() && !fs::exists(path, ec))) {
      prof_ = load_profile(path);
    }
    ep_.server = !o_.server.empty() ? o_.server : prof_.server;
    ep_.ca_file = !o_.ca_file.empty() ? o_.ca_file : prof_.ca_file;
    ep_.system_roots = o_.system_roots || prof_.system_roots;
    ep_.token = have_env_token ? std::string(env_token) : prof_.token;
    ep_.timeout = std::chrono::seconds(o_.timeout);
    if (ep_.server.empty()) {
      throw usage_error("no server: run `aegisctl login` or pass --server");
    }
    if (ep_.token.empty()) {
      throw usage_error("no token: run `aegisctl login` or set AEGISCTL_TOKEN");
    }
  }

  api::location_ref at() {
    load();
    api::location_ref r;
    r.project = !o_.project.empty() ? o_.project : prof_.project;
    r.location = !o_.location.empty() ? o_.location : prof_.location;
    if (r.project.empty()) {
      throw usage_error("no project: pass --project or set a default with `aegisctl login "
                        "--project`");
    }
    if (r.location.empty()) {
      r.location = "global";
    }
    return r;
  }

  answer call(const request& req) {
    load();
    if (!transport_) {
      transport_ = connect_(ep_);
    }
    const response res = transport_->send(req);
    answer a;
    a.raw = res.body;
    if (res.status < 200 || res.status >= 300) {
      const json doc = json::parse(res.body, nullptr, false);
      std::string status = "HTTP " + std::to_string(res.status);
      std::string message = "the server answered " + std::to_string(res.status);
      if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
        const json& e = doc["error"];
        if (e.contains("status") && e["status"].is_string()) {
          status = e["status"].get<std::string>();
        }
        if (e.contains("message") && e["message"].is_string()) {
          message = e["message"].get<std::string>();
        }
      }
      throw ctl_error(status, message);
    }
    if (res.body.empty()) {
      a.value = json::object();
      a.raw = "{}";
    } else {
      a.value = json::parse(res.body, nullptr, false);
      if (a.value.is_discarded()) {
        throw ctl_error("INVALID_RESPONSE", "the server's answer is not JSON");
      }
    }
    return a;
  }

  // --json: the API's JSON unchanged; otherwise `human`.
  template <class Human>
  void print(const answer& a, Human human) {
    if (o_.json_output) {
      out_ << a.raw;
      if (a.raw.empty() || a.raw.back() != '\n') {
        out_ << '\n';
      }
    } else {
      human(a.value);
    }
  }
  void print_done(const answer& a, const std::string& message) {
    print(a, [&](const json&) { out_ << sanitize(message) << '\n'; });
  }
  void more(const json& v) {
    if (!o_.json_output && v.contains("nextPageToken") && v["nextPageToken"].is_string() &&
        !v["nextPageToken"].get<std::string>().empty()) {
      err_ << "more results: --page-token " << sanitize(v["nextPageToken"].get<std::string>())
           << '\n';
    }
  }
  api::page page() const {
    api::page p;
    if (o_.has("page-size")) {
      p.size = o_.page_size;
    }
    p.token = o_.page_token;
    return p;
  }
  std::string payload() const {
    if (o_.has("data") == o_.has("file")) {
      throw usage_error("give exactly one of --data and --file");
    }
    return o_.has("data") ? o_.data : read_file(o_.file);
  }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  options& opts() { return o_; }

  // --- commands ----------------------------------------------------------------------------

  void login() {
    if (o_.server.empty()) {
      throw usage_error("login needs --server https://host:port");
    }
    (void)parse_server_url(o_.server);
    if (o_.ca_file.empty() && !o_.system_roots) {
      throw usage_error("login needs --ca-file (or --system-roots)");
    }
    std::string tok = o_.token;
    if (tok.empty() && !o_.token_file.empty()) {
      tok = read_file(o_.token_file);
      while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) {
        tok.pop_back();
      }
    }
    if (tok.empty()) {
      if (const char* env = std::getenv("AEGISCTL_TOKEN"); env != nullptr) {
        tok = env;
      }
    }
    if (tok.empty()) {
      throw usage_error("login needs --token, --token-file or AEGISCTL_TOKEN");
    }
    if (tok.rfind("aeg_", 0) != 0) {
      throw usage_error("the token does not look like an Aegis token (aeg_...)");
    }
    profile p;
    p.server = o_.server;
    p.token = tok;
    if (!o_.ca_file.empty()) {
      std::error_code ec;
      const fs::path ca = fs::absolute(o_.ca_file, ec);
      if (ec || !fs::is_regular_file(ca, ec)) {
        throw ctl_error("file", "CA file " + o_.ca_file + " is not a readable file");
      }
      p.ca_file = ca.string();
    }
    p.system_roots = o_.system_roots;
    p.project = o_.project;
    p.location = o_.location;
    // Check the server, its certificate and the token before saving anything.
    loaded_ = true;
    ep_ = endpoint{p.server, p.ca_file, p.system_roots, p.token, std::chrono::seconds(o_.timeout)};
    (void)call(api::list_projects(api::page{1, {}}));
    const fs::path path = profile_path();
    save_profile(path, p);
    out_ << "logged in to " << sanitize(p.server) << "; profile written to " << path.string()
         << '\n';
  }

  json device_credentials(const api::location_ref& at) {
    const answer dev = call(api::get_device(at, o_.registry, o_.id));
    if (dev.value.contains("credentials") && dev.value["credentials"].is_array()) {
      return dev.value["credentials"];
    }
    return json::array();
  }

  // The credential given by --public-key/--format or generated by --key-type/--out; `written`
  // is set when files were created (to remove them if the API call fails).
  json credential_from_flags(std::optional<written_key>& written,
                             std::optional<token_key>& in_token, bool required) {
    check_pkcs11_flags();
    if (o_.pkcs11) {
      in_token = generate_in_token();
      return api::public_key_credential("ES256_PEM", in_token->key.public_pem, o_.expiration);
    }
    const bool generate = o_.has("key-type");
    const bool given_key = o_.has("public-key");
    if (generate && given_key) {
      throw usage_error("give either --key-type (generate a key) or --public-key, not both");
    }
    if (!generate && !given_key) {
      if (required) {
        throw usage_error("give --key-type with --out, or --public-key");
      }
      return nullptr;
    }
    if (generate) {
      const auto type = parse_key_type(o_.key_type);
      if (!type) {
        throw usage_error("--key-type must be es256, rs256 or ed25519");
      }
      if (o_.out.empty()) {
        throw usage_error("--key-type needs --out DIR for the private key");
      }
      written = write_device_key(o_.out, o_.id, *type, o_.rsa_bits);
      return api::public_key_credential(written->format, written->public_pem, o_.expiration);
    }
    const std::string pem = read_file(o_.public_key);
    std::string format = o_.format;
    if (format.empty()) {
      if (auto k = crypto::public_key::from_pem(pem)) {
        format = credential_format(k->type());
      } else if (auto c = crypto::certificate::from_pem(pem)) {
        const auto t = c->subject_public_key().type();
        if (t == crypto::key_type::ed25519) {
          throw usage_error("no X.509 credential format exists for Ed25519; pass --format");
        }
        format = t == crypto::key_type::rsa ? "RSA_X509_PEM" : "ES256_X509_PEM";
      } else {
        throw usage_error(o_.public_key + " holds neither a public key nor a certificate (PEM)");
      }
    }
    return api::public_key_credential(format, pem, o_.expiration);
  }

  void report_key(const std::optional<written_key>& written) {
    if (written) {
      err_ << "private key written to " << written->private_path.string()
           << " (0600), public key to " << written->public_path.string() << '\n';
    }
  }

  // After the device answer: where the token key is, for the device SDK.
  void report_token_key(const std::optional<token_key>& in_token) {
    if (in_token) {
      (o_.json_output ? err_ : out_) << "pkcs11 URI: " << in_token->key.uri << '\n';
    }
  }

  // --pkcs11 excludes the local-key options; the token options need --pkcs11. The PIN is never
  // taken from the command line (other users see it in ps and it lands in shell history).
  void check_pkcs11_flags() const {
    if (o_.has("pin")) {
      throw usage_error("the PIN is never taken on the command line: use --pin-env VAR or "
                        "--pin-file F (mode 0600)");
    }
    if (!o_.pkcs11) {
      for (const char* opt : {"module", "token-label", "key-label", "pin-env", "pin-file"}) {
        if (o_.has(opt)) {
          throw usage_error(std::string("--") + opt + " needs --pkcs11");
        }
      }
      return;
    }
    for (const char* opt : {"key-type", "out", "public-key", "format"}) {
      if (o_.has(opt)) {
        throw usage_error(std::string("--pkcs11 generates the key in the token: --") + opt +
                          " does not apply");
      }
    }
    if (!o_.has("module") || !o_.has("token-label")) {
      throw usage_error("--pkcs11 needs --module PATH and --token-label L");
    }
    if (o_.has("pin-env") == o_.has("pin-file")) {
      throw usage_error("--pkcs11 needs exactly one of --pin-env VAR and --pin-file F");
    }
    const std::string& label = o_.has("key-label") ? o_.key_label : o_.id;
    if (label.empty() || label.size() > 128) {
      throw usage_error("--key-label must be 1 to 128 characters");
    }
    for (const char ch : label) {
      const auto c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c == 0x7f) {
        throw usage_error("--key-label must not hold control characters");
      }
    }
  }

  token_key generate_in_token() {
    pin_ =
        o_.has("pin-env") ? pkcs11::pin_from_env(o_.pin_env) : pkcs11::pin_from_file(o_.pin_file);
    token_key t;
    t.token = std::make_unique<pkcs11::token>(o_.module, o_.token_label, pin_.view());
    t.key = t.token->generate_ec_p256(o_.has("key-label") ? o_.key_label : o_.id);
    return t;
  }

  // Undoes what was created locally for a credential the API then refused.
  static void discard(const std::optional<written_key>& written,
                      const std::optional<token_key>& in_token) {
    if (written) {
      remove_device_key(*written);
    }
    if (in_token && !in_token->token->destroy(in_token->key)) {
      throw ctl_error("pkcs11", "the key pair generated in token \"" + in_token->token->label() +
                                    "\" could not be removed again: delete object \"" +
                                    in_token->key.label + "\" before retrying");
    }
  }

  answer call_or_discard(const request& req, const std::optional<written_key>& written,
                         const std::optional<token_key>& in_token) {
    try {
      return call(req);
    } catch (const ctl_error& e) {
      try {
        discard(written, in_token);
      } catch (const ctl_error& cleanup) {
        throw ctl_error(e.status(), std::string(e.what()) + "; " + cleanup.what(), e.exit_code());
      }
      throw;
    } catch (...) {
      discard(written, in_token);
      throw;
    }
  }

  void device_create() {
    check_pkcs11_flags();
    const auto where = at();
    api::device_options d;
    d.blocked = o_.blocked;
    d.gateway = o_.is_gateway;
    d.metadata = parse_pairs(o_.metadata, "--metadata");
    std::optional<written_key> written;
    std::optional<token_key> in_token;
    const json cred = credential_from_flags(written, in_token, false);
    if (!cred.is_null()) {
      d.credentials.push_back(cred);
    }
    const answer a =
        call_or_discard(api::create_device(where, o_.registry, o_.id, d), written, in_token);
    report_key(written);
    print(a, [&](const json& v) { print_device(v); });
    report_token_key(in_token);
  }

  void credentials_add() {
    check_pkcs11_flags();
    const auto where = at();
    json creds = device_credentials(where);
    std::optional<written_key> written;
    std::optional<token_key> in_token;
    creds.push_back(credential_from_flags(written, in_token, true));
    const answer a =
        call_or_discard(api::set_credentials(where, o_.registry, o_.id, creds), written, in_token);
    report_key(written);
    print(a, [&](const json& v) { print_credentials(v); });
    report_token_key(in_token);
  }

  void credentials_remove() {
    const auto where = at();
    json creds = device_credentials(where);
    if (o_.index >= creds.size()) {
      throw usage_error("device " + o_.id + " has " + std::to_string(creds.size()) +
                        " credential(s); index " + std::to_string(o_.index) + " does not exist");
    }
    creds.erase(creds.begin() + static_cast<std::ptrdiff_t>(o_.index));
    const answer a = call(api::set_credentials(where, o_.registry, o_.id, creds));
    print(a, [&](const json& v) { print_credentials(v); });
  }

  void print_credentials(const json& device) {
    std::vector<std::vector<std::string>> rows;
    if (device.contains("credentials") && device["credentials"].is_array()) {
      std::size_t i = 0;
      for (const auto& c : device["credentials"]) {
        const json pk = c.contains("publicKey") ? c["publicKey"] : json();
        rows.push_back({std::to_string(i++), cell(pk, "format"), fingerprint_of(c),
                        cell(c, "expirationTime")});
      }
    }
    out_ << format_table({"INDEX", "FORMAT", "FINGERPRINT", "EXPIRES"}, rows);
  }

  void print_device(const json& v) {
    const json gw = v.contains("gatewayConfig") ? v["gatewayConfig"] : json();
    const json cfg = v.contains("config") ? v["config"] : json();
    const json err = v.contains("lastErrorStatus") ? v["lastErrorStatus"] : json();
    std::size_t ncreds = 0;
    if (v.contains("credentials") && v["credentials"].is_array()) {
      ncreds = v["credentials"].size();
    }
    out_ << format_fields({{"id", cell(v, "id")},
                           {"numId", cell(v, "numId")},
                           {"name", cell(v, "name")},
                           {"blocked", v.value("blocked", false) ? "true" : "false"},
                           {"gateway", cell(gw, "gatewayType")},
                           {"credentials", std::to_string(ncreds)},
                           {"configVersion", cell(cfg, "version")},
                           {"lastHeartbeat", cell(v, "lastHeartbeatTime")},
                           {"lastEvent", cell(v, "lastEventTime")},
                           {"lastState", cell(v, "lastStateTime")},
                           {"lastError", cell(err, "message")}});
  }

  void print_configs(const json& v) {
    std::vector<std::vector<std::string>> rows;
    if (v.contains("deviceConfigs") && v["deviceConfigs"].is_array()) {
      for (const auto& c : v["deviceConfigs"]) {
        rows.push_back({cell(c, "version"), cell(c, "cloudUpdateTime"), cell(c, "deviceAckTime"),
                        show_data(cell(c, "binaryData"))});
      }
    }
    out_ << format_table({"VERSION", "UPDATED", "ACKED", "DATA"}, rows);
  }

  void cert_sign() {
    const auto where = at();
    const std::string pem = read_file(o_.csr);
    auto csr = crypto::certificate_request::from_pem(pem);
    if (!csr) {
      throw usage_error(o_.csr + " is not a valid CSR: " + csr.error().message());
    }
    std::error_code ec;
    if (fs::exists(fs::symlink_status(o_.out, ec))) {
      throw ctl_error("file", o_.out + " already exists; refusing to overwrite it");
    }
    std::optional<int> days;
    if (o_.has("days")) {
      days = o_.days;
    }
    const answer a = call(api::sign_certificate(where, o_.registry, o_.device, pem, days));
    const std::string cert = cell(a.value, "certificate");
    if (cert.empty()) {
      throw ctl_error("INVALID_RESPONSE", "the answer holds no certificate");
    }
    write_new_file(o_.out, cert, 0644);
    print(a, [&](const json& v) {
      out_ << "certificate for " << sanitize(o_.device) << " written to " << o_.out << " (serial "
           << sanitize(cell(v, "serial")) << ", expires " << sanitize(cell(v, "expireTime"))
           << ")\n";
    });
  }

private:
  options& o_;
  std::ostream& out_;
  std::ostream& err_;
  const transport_factory& connect_;
  bool loaded_ = false;
  profile prof_;
  endpoint ep_;
  crypto::secure_buffer pin_;
  std::unique_ptr<transport> transport_;
};

void print_list(session& s, const answer& a, const char* key,
                const std::vector<std::string>& headers,
                const std::function<std::vector<std::string>(const json&)>& row) {
  s.print(a, [&](const json& v) {
    std::vector<std::vector<std::string>> rows;
    if (v.contains(key) && v[key].is_array()) {
      for (const auto& item : v[key]) {
        rows.push_back(row(item));
      }
    }
    s.out() << format_table(headers, rows);
    s.more(v);
  });
}

std::string enabled_state(const json& v, const char* obj, const char* field) {
  const json inner = v.contains(obj) ? v[obj] : json();
  return cell(inner, field);
}

void print_registry(session& s, const answer& a) {
  s.print(a, [&](const json& v) {
    std::size_t ncreds = 0;
    if (v.contains("credentials") && v["credentials"].is_array()) {
      ncreds = v["credentials"].size();
    }
    s.out() << format_fields({{"id", cell(v, "id")},
                              {"name", cell(v, "name")},
                              {"mqtt", enabled_state(v, "mqttConfig", "mqttEnabledState")},
                              {"http", enabled_state(v, "httpConfig", "httpEnabledState")},
                              {"logLevel", cell(v, "logLevel")},
                              {"caCertificates", std::to_string(ncreds)}});
  });
}

void print_group(session& s, const answer& a) {
  s.print(a, [&](const json& v) {
    std::string labels;
    if (v.contains("labels") && v["labels"].is_object()) {
      for (const auto& [k, val] : v["labels"].items()) {
        labels += (labels.empty() ? "" : ",") + k + "=" +
                  (val.is_string() ? val.get<std::string>() : val.dump());
      }
    }
    s.out() << format_fields(
        {{"id", cell(v, "id")}, {"name", cell(v, "name")}, {"labels", labels}});
  });
}

// Adds --page-size/--page-token to a list command.
void paged(CLI::App* cmd, options& o) {
  o.track("page-size", cmd->add_option("--page-size", o.page_size, "results per page (max 1000)"));
  cmd->add_option("--page-token", o.page_token, "page token from the previous answer");
}

void add_data_options(CLI::App* cmd, options& o) {
  o.track("data", cmd->add_option("--data", o.data, "the payload as a string"));
  o.track("file", cmd->add_option("--file", o.file, "read the payload from a file"));
}

void add_key_options(CLI::App* cmd, options& o) {
  o.track("key-type", cmd->add_option("--key-type", o.key_type,
                                      "generate a key pair locally: es256, rs256 or ed25519"));
  o.track("out", cmd->add_option("--out", o.out, "directory for ID.key (0600) and ID.pub"));
  cmd->add_option("--rsa-bits", o.rsa_bits, "RSA key size (2048..4096)");
  o.track("public-key", cmd->add_option("--public-key", o.public_key,
                                        "register this public key or certificate (PEM)"));
  o.track("format", cmd->add_option("--format", o.format,
                                    "credential format (ES256_PEM, RSA_PEM, ED25519_PEM, "
                                    "RSA_X509_PEM, ES256_X509_PEM); inferred from the key when "
                                    "omitted"));
  cmd->add_option("--expiration", o.expiration, "credential expiration time (RFC 3339)");
  cmd->add_flag("--pkcs11", o.pkcs11,
                "generate an EC P-256 key pair inside a PKCS#11 token; only the public key "
                "leaves it");
  o.track("module", cmd->add_option("--module", o.module, "PKCS#11 module (.so) of the token"));
  o.track("token-label", cmd->add_option("--token-label", o.token_label, "the token's label"));
  o.track("key-label", cmd->add_option("--key-label", o.key_label,
                                       "CKA_LABEL and CKA_ID of the key pair (default: the "
                                       "device id)"));
  o.track("pin-env",
          cmd->add_option("--pin-env", o.pin_env, "read the user PIN from this env variable"));
  o.track("pin-file", cmd->add_option("--pin-file", o.pin_file,
                                      "read the user PIN from this file (owner-only, 0600)"));
  // Declared only to refuse it without echoing the value.
  o.track("pin",
          cmd->add_option("--pin", o.pin, "refused: use --pin-env or --pin-file")->expected(0, 1));
}

} // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        const transport_factory& connect) {
  options o;
  session s(o, out, err, connect);
  std::function<void()> action;

  CLI::App app{"aegisctl: the Aegis operator CLI (admin API client)", "aegisctl"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--config", o.config,
                 "profile file (default $AEGISCTL_CONFIG or "
                 "~/.config/aegis/aegisctl.json)");
  app.add_option("--server", o.server, "admin API URL, https://host:port");
  app.add_option("--ca-file", o.ca_file, "CA certificate(s) to trust for the server (PEM)");
  app.add_flag("--system-roots", o.system_roots, "also trust the system certificate store");
  app.add_flag("--json", o.json_output, "print the API's JSON answer unchanged");
  app.add_option("--project", o.project, "project (default: the profile's)");
  app.add_option("--location", o.location, "location (default: the profile's, else global)");
  app.add_option("--timeout", o.timeout, "connect/read timeout in seconds")
      ->check(CLI::Range(1, 3600));

  // login
  {
    auto* c = app.add_subcommand("login", "check a token against a server and save a profile");
    c->add_option("--token", o.token, "the API token (aeg_...)");
    c->add_option("--token-file", o.token_file, "read the token from this file");
    c->callback([&] { action = [&] { s.login(); }; });
  }

  // project
  {
    auto* p = app.add_subcommand("project", "projects")->require_subcommand(1);
    auto* create = p->add_subcommand("create", "create a project");
    create->add_option("id", o.id, "project id")->required();
    create->callback([&] {
      action = [&] {
        const auto a = s.call(api::create_project(o.id));
        s.print(a, [&](const json& v) {
          out << "created project " << sanitize(cell(v, "id")) << '\n';
        });
      };
    });
    auto* list = p->add_subcommand("list", "list projects");
    paged(list, o);
    list->callback([&] {
      action = [&] {
        print_list(s, s.call(api::list_projects(s.page())), "projects", {"ID", "NAME", "CREATED"},
                   [](const json& v) {
                     return std::vector<std::string>{cell(v, "id"), cell(v, "name"),
                                                     cell(v, "createTime")};
                   });
      };
    });
    auto* get = p->add_subcommand("get", "show a project");
    get->add_option("id", o.id, "project id")->required();
    get->callback([&] {
      action = [&] {
        const auto a = s.call(api::get_project(o.id));
        s.print(a, [&](const json& v) {
          out << format_fields({{"id", cell(v, "id")},
                                {"name", cell(v, "name")},
                                {"created", cell(v, "createTime")}});
        });
      };
    });
  }

  // registry
  {
    auto* r = app.add_subcommand("registry", "device registries")->require_subcommand(1);
    auto* create = r->add_subcommand("create", "create a registry");
    create->add_option("id", o.id, "registry id")->required();
    create->add_flag("--no-mqtt", o.no_mqtt, "refuse MQTT connections");
    create->add_flag("--no-http", o.no_http, "refuse the HTTP device bridge");
    create->add_option("--log-level", o.log_level, "NONE, ERROR, INFO or DEBUG");
    create->callback([&] {
      action = [&] {
        api::registry_options ro;
        if (o.no_mqtt) {
          ro.mqtt_enabled = false;
        }
        if (o.no_http) {
          ro.http_enabled = false;
        }
        ro.log_level = o.log_level;
        print_registry(s, s.call(api::create_registry(s.at(), o.id, ro)));
      };
    });
    auto* get = r->add_subcommand("get", "show a registry");
    get->add_option("id", o.id, "registry id")->required();
    get->callback(
        [&] { action = [&] { print_registry(s, s.call(api::get_registry(s.at(), o.id))); }; });
    auto* list = r->add_subcommand("list", "list registries");
    paged(list, o);
    list->callback([&] {
      action = [&] {
        print_list(s, s.call(api::list_registries(s.at(), s.page())), "deviceRegistries",
                   {"ID", "MQTT", "HTTP", "NAME"}, [](const json& v) {
                     return std::vector<std::string>{
                         cell(v, "id"), enabled_state(v, "mqttConfig", "mqttEnabledState"),
                         enabled_state(v, "httpConfig", "httpEnabledState"), cell(v, "name")};
                   });
      };
    });
    auto* del = r->add_subcommand("delete", "delete an empty registry");
    del->add_option("id", o.id, "registry id")->required();
    del->callback([&] {
      action = [&] {
        s.print_done(s.call(api::delete_registry(s.at(), o.id)), "deleted registry " + o.id);
      };
    });
  }

  // device
  {
    auto* d = app.add_subcommand("device", "devices")->require_subcommand(1);
    auto device_cmd = [&](CLI::App* parent, const char* name, const char* help) {
      auto* c = parent->add_subcommand(name, help);
      c->add_option("id", o.id, "device id")->required();
      c->add_option("--registry", o.registry, "registry id")->required();
      return c;
    };
    auto* create =
        device_cmd(d, "create", "create a device (optionally with a locally generated key)");
    add_key_options(create, o);
    create->add_flag("--blocked", o.blocked, "create it blocked");
    create->add_flag("--gateway", o.is_gateway, "make it a gateway (association-only auth)");
    create->add_option("--metadata", o.metadata, "KEY=VALUE (repeatable)");
    create->callback([&] { action = [&] { s.device_create(); }; });

    auto* get = device_cmd(d, "get", "show a device");
    get->callback([&] {
      action = [&] {
        const auto a = s.call(api::get_device(s.at(), o.registry, o.id));
        s.print(a, [&](const json& v) { s.print_device(v); });
      };
    });
    auto* list = d->add_subcommand("list", "list a registry's devices");
    list->add_option("--registry", o.registry, "registry id")->required();
    list->add_option("--gateway", o.gateway, "only devices bound to this gateway");
    paged(list, o);
    list->callback([&] {
      action = [&] {
        print_list(s, s.call(api::list_devices(s.at(), o.registry, s.page(), o.gateway)), "devices",
                   {"ID", "NUM_ID", "BLOCKED", "GATEWAY", "LAST_EVENT"}, [](const json& v) {
                     const json gw = v.contains("gatewayConfig") ? v["gatewayConfig"] : json();
                     return std::vector<std::string>{
                         cell(v, "id"), cell(v, "numId"), v.value("blocked", false) ? "yes" : "",
                         cell(gw, "gatewayType"), cell(v, "lastEventTime")};
                   });
      };
    });
    auto* del = device_cmd(d, "delete", "delete a device");
    del->callback([&] {
      action = [&] {
        s.print_done(s.call(api::delete_device(s.at(), o.registry, o.id)),
                     "deleted device " + o.id);
      };
    });
    for (const bool block : {true, false}) {
      auto* c = device_cmd(d, block ? "block" : "unblock",
                           block ? "refuse the device's connections" : "allow the device again");
      c->callback([&, block] {
        action = [&, block] {
          const auto a = s.call(api::set_blocked(s.at(), o.registry, o.id, block));
          s.print(a, [&](const json& v) {
            out << (v.value("blocked", false) ? "blocked " : "unblocked ") << sanitize(o.id)
                << '\n';
          });
        };
      });
    }

    auto* creds = d->add_subcommand("credentials", "a device's public keys")->require_subcommand(1);
    auto* cadd = device_cmd(creds, "add", "add a credential (given or generated locally)");
    add_key_options(cadd, o);
    cadd->callback([&] { action = [&] { s.credentials_add(); }; });
    auto* clist = device_cmd(creds, "list", "list credentials with their index");
    clist->callback([&] {
      action = [&] {
        const auto a = s.call(api::get_device(s.at(), o.registry, o.id));
        s.print(a, [&](const json& v) { s.print_credentials(v); });
      };
    });
    auto* cremove = device_cmd(creds, "remove", "remove the credential at INDEX");
    cremove->add_option("index", o.index, "index from `credentials list`")->required();
    cremove->callback([&] { action = [&] { s.credentials_remove(); }; });

    auto* config =
        d->add_subcommand("config", "cloud-to-device configuration")->require_subcommand(1);
    auto* cset = device_cmd(config, "set", "push a new configuration version");
    add_data_options(cset, o);
    o.track("version", cset->add_option("--version", o.version,
                                        "only if the current version is this (0: any)"));
    cset->callback([&] {
      action = [&] {
        const std::string data = s.payload();
        std::optional<std::int64_t> v;
        if (o.has("version")) {
          v = o.version;
        }
        const auto a = s.call(api::modify_config(s.at(), o.registry, o.id, as_bytes(data), v));
        s.print(a, [&](const json& val) {
          out << "config version " << sanitize(cell(val, "version")) << " set for "
              << sanitize(o.id) << '\n';
        });
      };
    });
    auto* cget = device_cmd(config, "get", "show the latest configuration");
    cget->callback([&] {
      action = [&] {
        const auto a = s.call(api::config_versions(s.at(), o.registry, o.id, 1));
        s.print(a, [&](const json& v) {
          if (!v.contains("deviceConfigs") || !v["deviceConfigs"].is_array() ||
              v["deviceConfigs"].empty()) {
            out << "no configuration\n";
            return;
          }
          const json& c = v["deviceConfigs"][0];
          out << format_fields({{"version", cell(c, "version")},
                                {"updated", cell(c, "cloudUpdateTime")},
                                {"acked", cell(c, "deviceAckTime")},
                                {"data", show_data(cell(c, "binaryData"))}});
        });
      };
    });
    auto* chist = device_cmd(config, "history", "list configuration versions, newest first");
    o.track("limit", chist->add_option("--limit", o.limit, "how many versions"));
    chist->callback([&] {
      action = [&] {
        std::optional<int> n;
        if (o.has("limit")) {
          n = o.limit;
        }
        const auto a = s.call(api::config_versions(s.at(), o.registry, o.id, n));
        s.print(a, [&](const json& v) { s.print_configs(v); });
      };
    });

    auto* state = device_cmd(d, "state", "list the device's reported states, newest first");
    o.track("state-limit", state->add_option("--limit", o.limit, "how many states"));
    state->callback([&] {
      action = [&] {
        std::optional<int> n;
        if (o.has("state-limit")) {
          n = o.limit;
        }
        const auto a = s.call(api::device_states(s.at(), o.registry, o.id, n));
        s.print(a, [&](const json& v) {
          std::vector<std::vector<std::string>> rows;
          if (v.contains("deviceStates") && v["deviceStates"].is_array()) {
            for (const auto& st : v["deviceStates"]) {
              rows.push_back({cell(st, "updateTime"), show_data(cell(st, "binaryData"))});
            }
          }
          out << format_table({"UPDATED", "DATA"}, rows);
        });
      };
    });

    auto* command = d->add_subcommand("command", "cloud-to-device commands")->require_subcommand(1);
    auto* send = device_cmd(command, "send", "send a command to a connected device");
    add_data_options(send, o);
    send->add_option("--subfolder", o.subfolder, "command subfolder");
    send->callback([&] {
      action = [&] {
        const std::string data = s.payload();
        s.print_done(
            s.call(api::send_command(s.at(), o.registry, o.id, as_bytes(data), o.subfolder)),
            "command sent to " + o.id);
      };
    });

    for (const bool bind : {true, false}) {
      auto* c = device_cmd(d, bind ? "bind" : "unbind",
                           bind ? "bind the device to a gateway" : "unbind it from a gateway");
      c->add_option("--gateway", o.gateway, "gateway device id")->required();
      c->callback([&, bind] {
        action = [&, bind] {
          const auto where = s.at();
          const auto req = bind ? api::bind_to_gateway(where, o.registry, o.gateway, o.id)
                                : api::unbind_from_gateway(where, o.registry, o.gateway, o.id);
          s.print_done(s.call(req), (bind ? "bound " : "unbound ") + o.id +
                                        (bind ? " to " : " from ") + o.gateway);
        };
      });
    }
  }

  // group
  {
    auto* g = app.add_subcommand("group", "device groups")->require_subcommand(1);
    auto group_cmd = [&](const char* name, const char* help) {
      auto* c = g->add_subcommand(name, help);
      c->add_option("id", o.id, "group id")->required();
      c->add_option("--registry", o.registry, "registry id")->required();
      return c;
    };
    auto* create = group_cmd("create", "create a group");
    create->add_option("--label", o.labels, "KEY=VALUE (repeatable)");
    create->callback([&] {
      action = [&] {
        print_group(s, s.call(api::create_group(s.at(), o.registry, o.id,
                                                parse_pairs(o.labels, "--label"))));
      };
    });
    auto* list = g->add_subcommand("list", "list groups");
    list->add_option("--registry", o.registry, "registry id")->required();
    paged(list, o);
    list->callback([&] {
      action = [&] {
        print_list(s, s.call(api::list_groups(s.at(), o.registry, s.page())), "groups",
                   {"ID", "NAME"}, [](const json& v) {
                     return std::vector<std::string>{cell(v, "id"), cell(v, "name")};
                   });
      };
    });
    auto* get = group_cmd("get", "show a group");
    get->callback([&] {
      action = [&] { print_group(s, s.call(api::get_group(s.at(), o.registry, o.id))); };
    });
    auto* del = group_cmd("delete", "delete a group");
    del->callback([&] {
      action = [&] {
        s.print_done(s.call(api::delete_group(s.at(), o.registry, o.id)), "deleted group " + o.id);
      };
    });
    auto* add = group_cmd("add", "add devices to a group");
    add->add_option("devices", o.ids, "device ids")->required();
    add->callback([&] {
      action = [&] {
        s.print_done(s.call(api::add_to_group(s.at(), o.registry, o.id, o.ids)),
                     "added " + std::to_string(o.ids.size()) + " device(s) to " + o.id);
      };
    });
    auto* remove = group_cmd("remove", "remove devices from a group");
    remove->add_option("devices", o.ids, "device ids")->required();
    remove->callback([&] {
      action = [&] {
        s.print_done(s.call(api::remove_from_group(s.at(), o.registry, o.id, o.ids)),
                     "removed " + std::to_string(o.ids.size()) + " device(s) from " + o.id);
      };
    });
    auto* devices = group_cmd("devices", "list a group's devices");
    paged(devices, o);
    devices->callback([&] {
      action = [&] {
        const auto a = s.call(api::group_devices(s.at(), o.registry, o.id, s.page()));
        s.print(a, [&](const json& v) {
          std::vector<std::vector<std::string>> rows;
          if (v.contains("deviceIds") && v["deviceIds"].is_array()) {
            for (const auto& id : v["deviceIds"]) {
              rows.push_back({id.is_string() ? id.get<std::string>() : id.dump()});
            }
          }
          out << format_table({"DEVICE"}, rows);
          s.more(v);
        });
      };
    });
  }

  // ca
  {
    auto* c = app.add_subcommand("ca", "certificate authorities")->require_subcommand(1);
    auto* get = c->add_subcommand("get", "print Aegis' CA certificate (PEM)");
    get->callback([&] {
      action = [&] {
        const auto a = s.call(api::get_ca());
        s.print(a, [&](const json& v) {
          out << cell(v, "certificate");
          err << "fingerprint sha256: " << sanitize(cell(v, "fingerprintSha256")) << '\n';
        });
      };
    });
    auto* code = c->add_subcommand("registration-code",
                                   "get a code to put in a verification certificate's CN");
    code->callback([&] {
      action = [&] {
        const auto a = s.call(api::ca_registration_code());
        s.print(a, [&](const json& v) { out << sanitize(cell(v, "registrationCode")) << '\n'; });
      };
    });
    auto* reg = c->add_subcommand("register", "register an operator CA with a registry");
    reg->add_option("--registry", o.registry, "registry id")->required();
    reg->add_option("--cert", o.cert, "the CA certificate (PEM)")->required();
    reg->add_option("--verification-cert", o.verification_cert,
                    "certificate with CN = registration code, signed by the CA's key")
        ->required();
    reg->callback([&] {
      action = [&] {
        print_registry(s, s.call(api::register_ca(s.at(), o.registry, read_file(o.cert),
                                                  read_file(o.verification_cert))));
      };
    });
  }

  // cert
  {
    auto* c = app.add_subcommand("cert", "device certificates")->require_subcommand(1);
    auto* sign = c->add_subcommand("sign", "have Aegis' CA sign a device's CSR");
    sign->add_option("--device", o.device, "device id")->required();
    sign->add_option("--registry", o.registry, "registry id")->required();
    sign->add_option("--csr", o.csr, "the CSR (PEM)")->required();
    sign->add_option("--out", o.out, "where to write the certificate (must not exist)")->required();
    o.track("days", sign->add_option("--days", o.days, "validity in days"));
    sign->callback([&] { action = [&] { s.cert_sign(); }; });
    auto* revoke = c->add_subcommand("revoke", "revoke a certificate by serial");
    revoke->add_option("serial", o.id, "serial number (hex)")->required();
    revoke->add_option("--reason", o.reason,
                       "RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ... "
                       "(default unspecified)");
    revoke->callback([&] {
      action = [&] {
        s.print_done(s.call(api::revoke_certificate(o.id, o.reason)), "revoked " + o.id);
      };
    });
    auto* revoked = c->add_subcommand("revoked", "list revoked certificates");
    revoked->callback([&] {
      action = [&] {
        print_list(s, s.call(api::revoked_certificates()), "revokedCertificates",
                   {"SERIAL", "REVOKED", "REASON", "SUBJECT"}, [](const json& v) {
                     return std::vector<std::string>{cell(v, "serial"), cell(v, "revokeTime"),
                                                     cell(v, "reason"), cell(v, "subject")};
                   });
      };
    });
  }

  // token
  {
    auto* t = app.add_subcommand("token", "API tokens")->require_subcommand(1);
    auto* create = t->add_subcommand("create", "create a token (shown once)");
    create->add_option("--scope", o.scope, "viewer, provisioner or admin")
        ->required()
        ->check(CLI::IsMember({"viewer", "provisioner", "admin"}));
    create->add_option("--description", o.description, "what the token is for");
    o.track("ttl",
            create->add_option("--ttl", o.ttl, "lifetime in seconds")->check(CLI::PositiveNumber));
    create->callback([&] {
      action = [&] {
        std::optional<std::int64_t> ttl;
        if (o.has("ttl")) {
          ttl = o.ttl;
        }
        const auto a = s.call(api::create_token(o.scope, o.description, ttl));
        s.print(a, [&](const json& v) {
          out << format_fields({{"id", cell(v, "id")},
                                {"scope", cell(v, "scope")},
                                {"expires", cell(v, "expireTime")},
                                {"token", cell(v, "token")}});
          err << "the token is shown only now: store it safely\n";
        });
      };
    });
    auto* list = t->add_subcommand("list", "list tokens (never their secrets)");
    list->callback([&] {
      action = [&] {
        print_list(s, s.call(api::list_tokens()), "tokens",
                   {"ID", "SCOPE", "DESCRIPTION", "CREATED", "EXPIRES", "REVOKED", "CREATED_BY"},
                   [](const json& v) {
                     return std::vector<std::string>{cell(v, "id"),          cell(v, "scope"),
                                                     cell(v, "description"), cell(v, "createTime"),
                                                     cell(v, "expireTime"),  cell(v, "revokeTime"),
                                                     cell(v, "createdBy")};
                   });
      };
    });
    auto* revoke = t->add_subcommand("revoke", "revoke a token by id");
    revoke->add_option("id", o.id, "token id")->required();
    revoke->callback([&] {
      action = [&] { s.print_done(s.call(api::revoke_token(o.id)), "revoked token " + o.id); };
    });
  }

  // audit
  {
    auto* a = app.add_subcommand("audit", "read the audit log");
    o.track("after", a->add_option("--after", o.after, "only records after this sequence number"));
    o.track("audit-limit", a->add_option("--limit", o.limit, "at most this many records"));
    a->add_option("--target", o.target, "target prefix");
    a->add_option("--actor", o.actor, "actor (token id)");
    a->add_option("--action", o.action, "action name");
    a->callback([&] {
      action = [&] {
        api::audit_query q;
        if (o.has("after")) {
          q.after_sequence = o.after;
        }
        if (o.has("audit-limit")) {
          q.page_size = o.limit;
        }
        q.target = o.target;
        q.actor = o.actor;
        q.action = o.action;
        print_list(s, s.call(api::audit(q)), "records",
                   {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME"}, [](const json& v) {
                     return std::vector<std::string>{cell(v, "sequence"), cell(v, "time"),
                                                     cell(v, "actor"),    cell(v, "action"),
                                                     cell(v, "target"),   cell(v, "outcome")};
                   });
      };
    });
  }

  std::vector<const char*> argv;
  argv.push_back("aegisctl");
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    err << error_line("usage", e.what()) << '\n';
    return exit_usage;
  }

  // Never let the token (or its secret part) reach the terminal.
  auto report = [&](const std::string& status, const std::string& message) {
    std::string msg = message;
    const std::string& tok = s.token();
    msg = redact(msg, s.pin());
    if (const auto cut = tok.rfind('_'); cut != std::string::npos && tok.size() - cut > 8) {
      msg = redact(msg, std::string_view(tok).substr(cut + 1));
    }
    err << error_line(status, msg, tok) << '\n';
  };
  try {
    if (action) {
      action();
    }
    out.flush();
    return exit_ok;
  } catch (const ctl_error& e) {
    report(e.status(), e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    report("error", e.what());
    return exit_failure;
  }
}

} // namespace aegis::ctl
