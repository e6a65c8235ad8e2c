// aegis-device run: a reference device agent on device_client. Telemetry on a timer (the
// output of a command, or a file), config written atomically to a file and handed to a hook,
// commands handed to a mapped program on stdin, state read from a file and reported when it
// changes. Programs run on a worker thread, never on the client's I/O thread.

#include "agent.hpp"

#include "aegis/base/log.hpp"
#include "aegis/crypto/random.hpp"
#include "aegis/device/client.hpp"
#include "aegis/device/keystore.hpp"
#include "aegis/device/offline_queue.hpp"
#include "aegis/device/secure_store.hpp"
#include "process.hpp"

#include <toml++/toml.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace aegis::device::app {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct agent_config {
  client_options client;
  fs::path key_file;
  std::optional<pkcs11_slot> pkcs11;
  std::string pkcs11_key_label;
  std::chrono::milliseconds telemetry_interval{0};
  std::string telemetry_command; // run with /bin/sh -c (written by the operator)
  fs::path telemetry_file;
  std::string telemetry_subfolder;
  fs::path config_output;
  fs::path config_hook;
  std::map<std::string, fs::path> command_handlers;
  fs::path state_file;
  fs::path queue_store;  // persistent offline queue in a secure store
  fs::path queue_secret; // its HKDF secret file
  queue_limits limits;
};

std::string read_small_file(const fs::path& p, std::size_t cap = 256U * 1024U) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + p.string());
  }
  std::string out;
  out.resize(cap + 1);
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  if (out.size() > cap) {
    throw std::runtime_error(p.string() + " is larger than " + std::to_string(cap) + " bytes");
  }
  return out;
}

template <class T>
T required(const toml::table& t, std::string_view section, std::string_view key) {
  auto v = t[section][key].value<T>();
  if (!v) {
    throw config_error("missing or mistyped " + std::string(section) + "." + std::string(key));
  }
  return *v;
}

agent_config parse_config(const fs::path& file) {
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << file.string() << ": " << e.description() << " (line " << e.source().begin.line << ")";
    throw config_error(msg.str());
  }
  agent_config c;
  auto& o = c.client;
  o.host = required<std::string>(t, "server", "host");
  const auto port = t["server"]["port"].value_or<std::int64_t>(8883);
  if (port <= 0 || port > 65535) {
    throw config_error("server.port out of range");
  }
  o.port = static_cast<std::uint16_t>(port);
  if (const auto* cas = t["server"]["ca_files"].as_array()) {
    for (const auto& n : *cas) {
      if (auto s = n.value<std::string>()) {
        o.root_ca_files.emplace_back(*s);
      }
    }
  }
  if (auto ca = t["server"]["ca_file"].value<std::string>()) {
    o.root_ca_files.emplace_back(*ca);
  }
  o.use_system_roots = t["server"]["use_system_roots"].value_or(false);
  if (t["server"]["mqtt_version"].value_or<std::string>("3.1.1") == "5") {
    o.version = mqtt_version::v5;
  }
  o.keep_alive = std::chrono::seconds(t["server"]["keep_alive_seconds"].value_or<std::int64_t>(60));

  o.project_id = required<std::string>(t, "device", "project");
  o.location = t["device"]["location"].value_or<std::string>("global");
  o.registry_id = required<std::string>(t, "device", "registry");
  o.device_id = required<std::string>(t, "device", "id");
  o.token_lifetime =
      std::chrono::seconds(t["device"]["token_lifetime_seconds"].value_or<std::int64_t>(3600));
  o.gateway = t["device"]["gateway"].value_or(false);
  if (auto k = t["device"]["key_file"].value<std::string>()) {
    c.key_file = *k;
  } else if (auto m = t["device"]["pkcs11_module"].value<std::string>()) {
    pkcs11_slot slot;
    slot.module = *m;
    slot.token_label = required<std::string>(t, "device", "pkcs11_token");
    std::string pin = read_small_file(required<std::string>(t, "device", "pkcs11_pin_file"), 256);
    const auto end = std::min(pin.size(), pin.find_first_of("\r\n"));
    slot.user_pin = crypto::secure_buffer(as_bytes(std::string_view(pin).substr(0, end)));
    crypto::secure_wipe(pin.data(), pin.size());
    c.pkcs11 = std::move(slot);
    c.pkcs11_key_label = t["device"]["pkcs11_label"].value_or(o.device_id);
  } else {
    throw config_error("device.key_file or device.pkcs11_module is required");
  }
  if (auto cert = t["device"]["client_certificate_file"].value<std::string>()) {
    o.client_certificate_file = *cert;
    o.client_key_file = c.key_file;
  }

  c.telemetry_interval = std::chrono::milliseconds(
      static_cast<std::int64_t>(t["telemetry"]["interval_seconds"].value_or(0.0) * 1000.0));
  c.telemetry_command = t["telemetry"]["command"].value_or<std::string>("");
  c.telemetry_file = t["telemetry"]["file"].value_or<std::string>("");
  c.telemetry_subfolder = t["telemetry"]["subfolder"].value_or<std::string>("");
  if (c.telemetry_interval.count() > 0 && c.telemetry_command.empty() && c.telemetry_file.empty()) {
    throw config_error("telemetry.interval_seconds needs telemetry.command or telemetry.file");
  }
  c.config_output = t["config"]["output_file"].value_or<std::string>("");
  c.config_hook = t["config"]["hook"].value_or<std::string>("");
  if (const auto* handlers = t["commands"].as_table()) {
    for (const auto& [k, v] : *handlers) {
      auto program = v.value<std::string>();
      if (!program) {
        throw config_error("commands." + std::string(k.str()) + " must be a program path");
      }
      c.command_handlers[std::string(k.str())] = *program;
    }
  }
  c.state_file = t["state"]["file"].value_or<std::string>("");
  c.queue_store = t["queue"]["store_file"].value_or<std::string>("");
  c.queue_secret = t["queue"]["secret_file"].value_or<std::string>("");
  c.limits.max_messages =
      static_cast<std::size_t>(t["queue"]["max_messages"].value_or<std::int64_t>(1000));
  if (!c.queue_store.empty() && c.queue_secret.empty()) {
    throw config_error("queue.store_file needs queue.secret_file");
  }
  return c;
}

// Jobs for programs, in arrival order, on one thread.
class worker {
public:
  worker() : thread_([this] { loop(); }) {}
  ~worker() {
    {
      std::lock_guard l(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard l(m_);
      if (jobs_.size() >= 256) {
        log::warn("agent", "too many pending jobs: one dropped");
        return;
      }
      jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
  }

private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock l(m_);
        cv_.wait(l, [&] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          return;
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool done_ = false;
  std::thread thread_;
};

void write_atomically(const fs::path& path, bytes_view data) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    if (!out) {
      throw std::runtime_error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path);
}

} // namespace

int run_agent(const fs::path& config_file, const std::atomic<bool>& stop) {
  agent_config cfg;
  try {
    cfg = parse_config(config_file);
  } catch (const std::exception& e) {
    std::cerr << "aegis-device: config: " << e.what() << "\n";
    return 2;
  }

  std::unique_ptr<signer> key;
  if (cfg.pkcs11) {
    auto k = open_pkcs11_key(*cfg.pkcs11, cfg.pkcs11_key_label);
    if (!k) {
      std::cerr << "aegis-device: key: " << k.error().message() << "\n";
      return 1;
    }
    key = std::move(*k);
  } else if (cfg.client.client_certificate_file.empty()) {
    auto k = open_key_file(cfg.key_file);
    if (!k) {
      std::cerr << "aegis-device: key " << cfg.key_file.string() << ": " << k.error().message()
                << "\n";
      return 1;
    }
    key = std::move(*k);
  }
  cfg.client.jwt_signer = key.get();

  std::unique_ptr<secure_store> store;
  std::unique_ptr<offline_queue> queue;
  if (!cfg.queue_store.empty()) {
    store_key_source source;
    source.secret_file = cfg.queue_secret;
    auto s = secure_store::open(cfg.queue_store, source);
    if (!s) {
      std::cerr << "aegis-device: queue store: " << s.error().message() << "\n";
      return 1;
    }
    store = std::move(*s);
    auto q = make_persistent_queue(*store, cfg.limits);
    if (!q) {
      std::cerr << "aegis-device: queue: " << q.error().message() << "\n";
      return 1;
    }
    queue = std::move(*q);
  } else {
    queue = make_memory_queue(cfg.limits);
  }
  cfg.client.queue = queue.get();

  auto created = device_client::create(cfg.client);
  if (!created) {
    std::cerr << "aegis-device: " << created.error().message() << "\n";
    return 2;
  }
  auto& client = **created;
  worker jobs;

  client.on_connection_state([&](connection_state s, std::error_code ec) {
    std::cout << "aegis-device: " << to_string(s) << (ec ? ": " + ec.message() : std::string())
              << std::endl;
  });
  client.on_config([&](bytes_view payload) {
    bytes copy(payload.begin(), payload.end());
    jobs.post([&cfg, copy = std::move(copy)] {
      if (cfg.config_output.empty()) {
        return;
      }
      try {
        write_atomically(cfg.config_output, copy);
      } catch (const std::exception& e) {
        log::error("agent", "config: {}", e.what());
        return;
      }
      std::cout << "aegis-device: config written to " << cfg.config_output.string() << " ("
                << copy.size() << " bytes)" << std::endl;
      if (!cfg.config_hook.empty()) {
        const auto r = run_program({cfg.config_hook.string(), cfg.config_output.string()}, {}, 60s);
        std::cout << "aegis-device: config hook exited with " << r.exit_code << std::endl;
      }
    });
  });
  client.on_command([&](std::string_view subfolder, bytes_view payload) {
    const auto handler = cfg.command_handlers.find(std::string(subfolder));
    if (handler == cfg.command_handlers.end()) {
      std::cout << "aegis-device: no handler for command subfolder \"" << subfolder << "\""
                << std::endl;
      return;
    }
    std::string input(as_string_view(payload));
    jobs.post([program = handler->second, sub = std::string(subfolder), input] {
      const auto r =
          run_program({program.string()}, input, 60s, {"AEGIS_COMMAND_SUBFOLDER=" + sub});
      std::cout << "aegis-device: command handler " << program.string() << " exited with "
                << r.exit_code << std::endl;
    });
  });
  client.start();

  auto next_telemetry = std::chrono::steady_clock::now();
  fs::file_time_type state_mtime{};
  while (!stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (cfg.telemetry_interval.count() > 0 && now >= next_telemetry) {
      next_telemetry = now + cfg.telemetry_interval;
      std::string payload;
      bool ok = true;
      if (!cfg.telemetry_command.empty()) {
        const auto r = run_program({"/bin/sh", "-c", cfg.telemetry_command}, {}, 30s);
        ok = r.exit_code == 0;
        payload = r.output;
      } else {
        try {
          payload = read_small_file(cfg.telemetry_file);
        } catch (const std::exception& e) {
          log::warn("agent", "telemetry: {}", e.what());
          ok = false;
        }
      }
      if (ok) {
        auto pushed = client.publish_event(cfg.telemetry_subfolder, to_bytes(payload));
        if (!pushed) {
          log::warn("agent", "telemetry not queued: {}", pushed.error().message());
        }
      }
    }
    if (!cfg.state_file.empty()) {
      std::error_code ec;
      const auto mtime = fs::last_write_time(cfg.state_file, ec);
      if (!ec && mtime != state_mtime) {
        state_mtime = mtime;
        try {
          (void)client.set_state(to_bytes(read_small_file(cfg.state_file, 64U * 1024U)));
        } catch (const std::exception& e) {
          log::warn("agent", "state: {}", e.what());
        }
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  client.stop();
  const auto st = client.stats();
  std::cout << "aegis-device: stopped: " << st.events_acked << " events acknowledged, "
            << queue->size() << " still queued" << std::endl;
  return 0;
}

} // namespace aegis::device::app
