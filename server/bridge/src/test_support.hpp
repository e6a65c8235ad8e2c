#pragma once

// Test-only helpers of the bridge tests (never included by the library): a real in-memory
// registry, a real authenticator chain with the JWT authenticator, device keys made once per
// process, an executor thread with a bounded queue, a recording telemetry sink, and requests
// dispatched through the real router.

#include "aegis/auth/authenticator.hpp"
#include "aegis/auth/jwt_authenticator.hpp"
#include "aegis/base/clock.hpp"
#include "aegis/bridge/device_bridge.hpp"
#include "aegis/crypto/jwt.hpp"
#include "aegis/crypto/keys.hpp"
#include "aegis/http/router.hpp"
#include "aegis/registry/memory_repository.hpp"
#include "aegis/registry/service.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace aegis::bridge::test {

using namespace std::chrono_literals;

template <class T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
  return std::move(r).value();
}
inline void must(result<void> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
}

inline const crypto::private_key& device_key_pair(int which) {
  static const crypto::private_key k0 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  static const crypto::private_key k1 =
      must(crypto::private_key::generate(crypto::key_type::ec_p256));
  return which == 0 ? k0 : k1;
}

inline const std::string project = "acme-iot";
inline const std::string location = "us-central1";

inline registry::registry_key registry_key_of(const std::string& reg) {
  return {registry::project_id(project), registry::location_id(location),
          registry::registry_id(reg)};
}
inline registry::device_key device_key_of(const std::string& reg, const std::string& dev) {
  return {registry_key_of(reg), registry::device_id(dev)};
}
inline std::string device_path(const std::string& reg, const std::string& dev) {
  return "/v1/" + registry::to_name(device_key_of(reg, dev));
}

// One storage thread with a bounded queue, as the composition root's storage executor.
class test_executor {
public:
  explicit test_executor(std::size_t capacity = 1024) : capacity_(capacity) {
    thread_ = std::thread([this]() { loop(); });
  }
  ~test_executor() { stop(); }
  test_executor(const test_executor&) = delete;
  test_executor& operator=(const test_executor&) = delete;

  bool post(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    if (stopped_ || queue_.size() >= capacity_) {
      return false;
    }
    queue_.push_back(std::move(fn));
    cv_.notify_all();
    return true;
  }
  // Waits until every queued task ran.
  void drain() {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 10s, [this]() { return queue_.empty() && !busy_; });
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) {
        return;
      }
      stopped_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }
  // Holds the thread inside a task until release(): queued work waits behind it.
  void block() {
    post([this]() {
      std::unique_lock lock(mutex_);
      blocked_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this]() { return !blocked_; });
    });
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this]() { return blocked_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    blocked_ = false;
    cv_.notify_all();
  }

private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this]() { return stopped_ || !queue_.empty(); });
      if (queue_.empty()) {
        return; // stopped and drained
      }
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      fn();
      fn = nullptr;
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopped_ = false;
  bool busy_ = false;
  bool blocked_ = false;
  std::thread thread_;
};

class recording_sink final : public telemetry_sink {
public:
  struct event {
    std::string device; // client id
    std::string subfolder;
    bytes payload;
  };

  // telemetry_sink
  void publish_event(const auth::identity& device, std::string subfolder, bytes payload) override {
    std::lock_guard lock(mutex_);
    events_.push_back({device.client_id, std::move(subfolder), std::move(payload)});
  }
  void publish_state(const auth::identity& device, bytes payload) override {
    std::lock_guard lock(mutex_);
    states_.push_back({device.client_id, {}, std::move(payload)});
  }

  std::vector<event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<event> states() const {
    std::lock_guard lock(mutex_);
    return states_;
  }

private:
  mutable std::mutex mutex_;
  std::vector<event> events_;
  std::vector<event> states_;
};

// One answer, delivered from whichever thread answers.
class answer_box {
public:
  void put(http::response r) {
    std::lock_guard lock(mutex_);
    answers_.push_back(std::move(r));
    cv_.notify_all();
  }
  std::optional<http::response> wait(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this]() { return !answers_.empty(); })) {
      return std::nullopt;
    }
    return answers_.front();
  }
  bool answered() const {
    std::lock_guard lock(mutex_);
    return !answers_.empty();
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return answers_.size();
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<http::response> answers_;
};

inline std::optional<std::string> header_of(const http::response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

inline nlohmann::json body_json(const http::response& r) {
  return nlohmann::json::parse(r.body, nullptr, false);
}

// The error status name of a Google JSON error body ("NOT_FOUND").
inline std::string status_name(const http::response& r) {
  const auto j = body_json(r);
  if (j.is_object() && j.contains("error") && j["error"].contains("status")) {
    return j["error"]["status"].get<std::string>();
  }
  return {};
}

// acme-iot / us-central1 / fleet-a (HTTP on) and fleet-b (HTTP off); devices per test.
class bridge_world {
public:
  explicit bridge_world(bridge_options options = {}, std::size_t executor_capacity = 1024)
      : service_(repo_, clock_), chain_(audit_, clock_), executor_(executor_capacity) {
    must(service_.create_project(registry::project_id(project)));
    registry::registry_spec a;
    a.key = registry_key_of("fleet-a");
    must(service_.create_registry(a));
    registry::registry_spec b;
    b.key = registry_key_of("fleet-b");
    b.http_enabled = false;
    must(service_.create_registry(b));
    chain_.add(std::make_unique<auth::jwt_authenticator>(service_, clock_));
    bridge_ = std::make_unique<device_bridge>(
        options, chain_, service_,
        [this](std::function<void()> fn) { return executor_.post(std::move(fn)); }, sink_, clock_);
    bridge_->add_routes(router_);
  }
  ~bridge_world() {
    bridge_.reset();
    executor_.stop();
  }

  registry::device add_device(const std::string& reg, const std::string& dev, int key = 0) {
    registry::device_spec spec;
    spec.key = device_key_of(reg, dev);
    spec.credentials.push_back({registry::credential_format::es256_pem,
                                must(device_key_pair(key).public_part().to_pem()), std::nullopt});
    return must(service_.create_device(spec));
  }

  // A gateway (association only) with the given bound devices.
  registry::device add_gateway(const std::string& reg, const std::string& gw, int key,
                               const std::vector<std::string>& bound) {
    registry::device_spec spec;
    spec.key = device_key_of(reg, gw);
    spec.credentials.push_back({registry::credential_format::es256_pem,
                                must(device_key_pair(key).public_part().to_pem()), std::nullopt});
    spec.gateway.type = registry::gateway_type::gateway;
    spec.gateway.auth_method = registry::gateway_auth_method::association_only;
    auto d = must(service_.create_device(spec));
    for (const auto& dev : bound) {
      must(service_.bind_device_to_gateway(registry_key_of(reg), registry::device_id(gw),
                                           registry::device_id(dev)));
    }
    return d;
  }

  std::string token(int key = 0, std::chrono::seconds lifetime = 1h,
                    std::chrono::seconds issued_ago = 0s) const {
    crypto::jwt_mint_options o;
    o.audience = project;
    o.issued_at = clock_.wall_now() - issued_ago;
    o.lifetime = lifetime;
    return must(crypto::jwt_mint(device_key_pair(key), o));
  }

  // Dispatches through the router; the answer lands in the returned box.
  std::shared_ptr<answer_box> send(std::string method, std::string target, std::string body = {},
                                   std::optional<std::string> bearer = std::nullopt) {
    http::request req;
    req.method = std::move(method);
    req.target = target;
    const auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string_view rest = std::string_view(target).substr(q + 1);
      while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto pair = rest.substr(0, amp);
        const auto eq = pair.find('=');
        req.query.emplace_back(std::string(pair.substr(0, eq)),
                               eq == std::string_view::npos ? std::string()
                                                            : std::string(pair.substr(eq + 1)));
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      }
    }
    if (bearer) {
      req.headers.emplace_back("Authorization", "Bearer " + *bearer);
    }
    if (!body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
    }
    req.body = std::move(body);
    req.remote_address = "192.0.2.7:50000";
    auto box = std::make_shared<answer_box>();
    router_.dispatch(std::move(req),
                     http::responder::to_function([box](http::response r) { box->put(r); }));
    return box;
  }

  // Sends and waits for the answer (every request of these tests is answered within 10 s).
  http::response call(std::string method, std::string target, std::string body = {},
                      std::optional<std::string> bearer = std::nullopt) {
    auto box = send(std::move(method), std::move(target), std::move(body), std::move(bearer));
    auto r = box->wait();
    if (!r) {
      throw std::runtime_error("no answer");
    }
    return *r;
  }

  http::router& router() { return router_; }
  manual_clock& clock() { return clock_; }
  registry::registry_service& service() { return service_; }
  test_executor& executor() { return executor_; }
  recording_sink& sink() { return sink_; }
  device_bridge& bridge() { return *bridge_; }
  void destroy_bridge() { bridge_.reset(); }
  auth::memory_audit_sink& audit() { return audit_; }

private:
  manual_clock clock_;
  registry::memory_repository repo_;
  registry::registry_service service_;
  auth::memory_audit_sink audit_;
  auth::authenticator_chain chain_;
  test_executor executor_;
  recording_sink sink_;
  http::router router_;
  std::unique_ptr<device_bridge> bridge_;
};

} // namespace aegis::bridge::test
