#include "aegis/bridge/device_bridge.hpp"

#include "aegis/auth/errors.hpp"
#include "aegis/auth/gateway_attach.hpp"
#include "aegis/base/log.hpp"
#include "aegis/http/json.hpp"
#include "aegis/registry/errors.hpp"

#include "codec.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace aegis::bridge {

namespace {

constexpr std::string_view component = "bridge";

enum class operation { publish_event, set_state, get_config, get_commands };
enum class poll_kind { config, commands };

http::response unauthenticated() {
  // Never says why: an unknown device, a bad signature and an expired token look the same.
  auto r = http::error_response(http::rpc_status::unauthenticated,
                                "Request had invalid authentication credentials.");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

http::response permission_denied(std::string_view message) {
  return http::error_response(http::rpc_status::permission_denied, message);
}

http::response unavailable(std::string_view message) {
  auto r = http::error_response(http::rpc_status::unavailable, message);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

http::response too_many(std::chrono::seconds retry_after, std::string_view message) {
  auto r = http::error_response(http::rpc_status::resource_exhausted, message);
  r.headers.emplace_back("Retry-After",
                         std::to_string(std::max<std::int64_t>(1, retry_after.count())));
  return r;
}

http::response ok_empty() {
  return http::response::json(200, "{}");
}

// Untrusted input error from the codec (400 or 413).
http::response input_refused(const detail::input_error& e) {
  if (e.http_status == 413) {
    return http::error_response(413u, e.message);
  }
  return http::error_response(http::rpc_status::invalid_argument, e.message);
}

http::rpc_status to_rpc_status(registry::rpc_code c) noexcept {
  using registry::rpc_code;
  switch (c) {
  case rpc_code::ok:
    return http::rpc_status::ok;
  case rpc_code::cancelled:
    return http::rpc_status::cancelled;
  case rpc_code::unknown:
    return http::rpc_status::unknown;
  case rpc_code::invalid_argument:
    return http::rpc_status::invalid_argument;
  case rpc_code::deadline_exceeded:
    return http::rpc_status::deadline_exceeded;
  case rpc_code::not_found:
    return http::rpc_status::not_found;
  case rpc_code::already_exists:
    return http::rpc_status::already_exists;
  case rpc_code::permission_denied:
    return http::rpc_status::permission_denied;
  case rpc_code::resource_exhausted:
    return http::rpc_status::resource_exhausted;
  case rpc_code::failed_precondition:
    return http::rpc_status::failed_precondition;
  case rpc_code::aborted:
    return http::rpc_status::aborted;
  case rpc_code::out_of_range:
    return http::rpc_status::out_of_range;
  case rpc_code::unimplemented:
    return http::rpc_status::unimplemented;
  case rpc_code::internal:
    return http::rpc_status::internal;
  case rpc_code::unavailable:
    return http::rpc_status::unavailable;
  case rpc_code::data_loss:
    return http::rpc_status::data_loss;
  case rpc_code::unauthenticated:
    return http::rpc_status::unauthenticated;
  }
  return http::rpc_status::internal;
}

// A registry failure on the data plane. Server-side failures say nothing about the store.
http::response registry_refused(std::error_code ec) {
  if (ec.category() != make_error_code(registry::registry_errc::device_not_found).category()) {
    log::error(component, "unexpected error: {}", ec.message());
    return http::error_response(http::rpc_status::internal, "Internal error.");
  }
  const auto e = static_cast<registry::registry_errc>(ec.value());
  const auto status = to_rpc_status(registry::rpc_code_of(e));
  if (status == http::rpc_status::unavailable) {
    return unavailable("The service is temporarily unavailable.");
  }
  if (http::http_status_of(status) >= 500) {
    log::error(component, "registry failure: {}", ec.message());
    return http::error_response(status, "Internal error.");
  }
  return http::error_response(status, registry::describe(e));
}

// The wire answer to a refused authentication (auth/README.md: the client learns as little as
// the protocol allows).
http::response auth_refused(const auth::auth_decision& d) {
  using auth::auth_errc;
  const std::error_code r = d.reason;
  if (r == auth_errc::device_blocked) {
    return permission_denied("The device is blocked.");
  }
  if (r == auth_errc::http_disabled || r == auth_errc::mqtt_disabled) {
    return permission_denied("The HTTP bridge is disabled for this registry.");
  }
  if (r == auth_errc::client_id_mismatch || r == auth_errc::not_a_gateway ||
      r == auth_errc::gateway_auth_disabled || r == auth_errc::device_not_bound ||
      r == auth_errc::device_is_gateway) {
    return permission_denied("The credential is not allowed to act for this device.");
  }
  if (r == auth_errc::rate_limited) {
    return too_many(std::chrono::seconds(60), "Too many failed authentications.");
  }
  if (r == auth_errc::server_unavailable) {
    return unavailable("The service is temporarily unavailable.");
  }
  return unauthenticated();
}

std::chrono::seconds ceil_seconds(steady_time::duration d) {
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(d));
}

// A device path segment of 1 to 19 digits names the device by its numeric id (string ids start
// with a letter, so the two cannot be confused).
std::optional<registry::device_num_id> numeric_id(std::string_view segment) {
  if (segment.empty() || segment.size() > 19 ||
      !std::all_of(segment.begin(), segment.end(),
                   [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (const char ch : segment) {
    n = n * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  if (n == 0) {
    return std::nullopt;
  }
  return registry::device_num_id(n);
}

// One request on its way from the I/O thread to the executor.
struct call {
  operation op = operation::publish_event;
  registry::device_key device{};
  // The path named the device by its numeric id (IoT Core accepted both): resolved on the
  // executor, before authentication.
  std::optional<registry::device_num_id> num_id{};
  // gatewayInfo.delegatedDeviceId: the path and the token are a gateway's, acting for this
  // bound device; `device` becomes that device once the delegation is checked.
  std::string delegated{};
  registry::device_key path_device{}; // the device the path names (the gateway's when delegated)
  auth::connect_request credentials{};
  http::responder res{};
  detail::publish_event_body event{};
  detail::set_state_body state{};
  detail::config_query config{};
  detail::commands_query commands{};
};

} // namespace

struct device_bridge::impl {
  enum activity_flag : unsigned { event_activity = 1, config_sent_activity = 2 };

  struct poll {
    poll_kind kind = poll_kind::config;
    registry::device_key device{};
    http::responder res{};
    steady_time deadline{};
    std::int64_t local_version = 0; // config polls
    // What authenticated it, to re-run the checks when the device changes (device_changed):
    // the request's credentials, the device of its path, and the delegated device if any (then
    // `device` is the delegated device and `path_device` the gateway).
    std::shared_ptr<const auth::connect_request> credentials{};
    registry::device_key path_device{};
    std::string delegated{};
  };

  struct device_entry {
    std::vector<std::uint64_t> polls{}; // open, oldest first
    std::optional<steady_time> commands_closed_at{};
    std::deque<detail::command> pending{};
    std::size_t pending_bytes = 0;
    double tokens = 0;
    std::optional<steady_time> refilled_at{};
    std::optional<steady_time> last_state{};
  };

  using heap_entry = std::pair<steady_time, std::uint64_t>;

  impl(bridge_options o, auth::authenticator_chain& c, registry::registry_service& r,
       blocking_executor e, telemetry_sink& s, const clock& k)
      : options(o), chain(c), registry(r), run(std::move(e)), sink(s), clk(k), attach(r, k) {}

  bridge_options options;
  auth::authenticator_chain& chain;
  registry::registry_service& registry;
  blocking_executor run;
  telemetry_sink& sink;
  const clock& clk;
  auth::gateway_attach_checker attach;

  mutable std::mutex mutex;
  std::condition_variable timer_wake;
  std::condition_variable drained;
  bool stopping = false;
  bool timer_exit = false;
  std::size_t in_flight = 0; // tasks handed to `run`, not yet run nor destroyed
  std::unordered_map<std::uint64_t, poll> polls;
  std::uint64_t next_poll_id = 1;
  std::size_t delegated_polls = 0; // held polls of gateways acting for a bound device
  std::priority_queue<heap_entry, std::vector<heap_entry>, std::greater<>> deadlines;
  std::map<registry::device_key, device_entry> devices;
  std::optional<steady_time> next_sweep{};
  // Activity waiting for the next flush (activity_flush_interval), bits of activity_flag.
  std::map<registry::device_key, unsigned> pending_activity;
  std::optional<steady_time> next_activity_flush{};
  bridge_stats counters{};
  std::thread timer;

  // --- executor, with a gate so that no task outlives the bridge's references ---------------

  struct task_gate {
    explicit task_gate(impl& i) : owner(i) {}
    task_gate(const task_gate&) = delete;
    task_gate& operator=(const task_gate&) = delete;
    ~task_gate() {
      std::lock_guard lock(owner.mutex);
      if (--owner.in_flight == 0) {
        owner.drained.notify_all();
      }
    }
    impl& owner;
  };

  // False when stopping or when the executor refused (the task is then destroyed unrun).
  bool submit(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex);
      if (stopping) {
        return false;
      }
      ++in_flight;
    }
    auto gate = std::make_shared<task_gate>(*this);
    const bool accepted = run([gate, fn = std::move(fn)]() {
      try {
        fn();
      } catch (...) {
        // A responder dropped unanswered still answers 500 (libs/http).
        log::error(component, "a bridge task failed");
      }
    });
    if (!accepted) {
      std::lock_guard lock(mutex);
      ++counters.executor_refusals;
    }
    return accepted;
  }

  bool is_stopping() const {
    std::lock_guard lock(mutex);
    return stopping;
  }

  // --- requests -------------------------------------------------------------------------------

  void on_request(operation op, http::request&& req, const http::path_params& params,
                  http::responder res) {
    if (is_stopping()) {
      res.send(unavailable("The server is shutting down."));
      return;
    }
    auto c = std::make_shared<call>();
    c->op = op;
    c->res = res;
    const auto param = [&](const char* name) {
      const auto it = params.find(name);
      return it == params.end() ? std::string() : it->second;
    };
    c->device = {{registry::project_id(param("project")), registry::location_id(param("location")),
                  registry::registry_id(param("registry"))},
                 registry::device_id(param("device"))};
    c->num_id = numeric_id(c->device.device.value());
    if (c->num_id ? !registry::check(c->device.registry) : !registry::check(c->device)) {
      res.send(http::error_response(http::rpc_status::invalid_argument,
                                    "The device path is not a valid device name."));
      return;
    }
    auto token = detail::bearer_token(req);
    if (!token && req.peer_certificates.empty()) {
      res.send(unauthenticated());
      return;
    }
    // Cheap checks of the body and query before any storage work.
    const detail::gateway_info* gateway = nullptr;
    switch (op) {
    case operation::publish_event: {
      auto p = detail::parse_publish_event(req.body, options.max_event_payload);
      if (!p.value) {
        res.send(input_refused(p.error));
        return;
      }
      c->event = std::move(*p.value);
      gateway = &c->event.gateway;
      break;
    }
    case operation::set_state: {
      auto p = detail::parse_set_state(req.body, options.max_state_payload);
      if (!p.value) {
        res.send(input_refused(p.error));
        return;
      }
      c->state = std::move(*p.value);
      gateway = &c->state.gateway;
      break;
    }
    case operation::get_config: {
      auto p = detail::parse_config_query(req, options.max_wait);
      if (!p.value) {
        res.send(input_refused(p.error));
        return;
      }
      c->config = std::move(*p.value);
      gateway = &c->config.gateway;
      break;
    }
    case operation::get_commands: {
      auto p = detail::parse_commands_query(req, options.max_wait);
      if (!p.value) {
        res.send(input_refused(p.error));
        return;
      }
      c->commands = std::move(*p.value);
      gateway = &c->commands.gateway;
      break;
    }
    }
    c->delegated = gateway->delegated_device_id;
    c->credentials.client_id = registry::to_name(c->device);
    if (token) {
      c->credentials.password = to_bytes(*token);
    }
    c->credentials.peer_certificates = std::move(req.peer_certificates);
    c->credentials.source_address = std::move(req.remote_address);
    c->credentials.via = auth::transport::http;
    if (!submit([this, c]() { execute_guarded(*c); })) {
      res.send(unavailable("The server is busy."));
    }
  }

  // On the executor. Nothing thrown may reach the executor's thread (DESIGN §6): a failure
  // answers 500 and is logged.
  void execute_guarded(call& c) {
    try {
      execute(c);
    } catch (const std::exception& e) {
      log::error(component, "request failed: {}", e.what());
      c.res.send(http::error_response(http::rpc_status::internal, "Internal error."));
    } catch (...) {
      log::error(component, "request failed");
      c.res.send(http::error_response(http::rpc_status::internal, "Internal error."));
    }
  }

  void execute(call& c) {
    if (is_stopping()) {
      c.res.send(unavailable("The server is shutting down."));
      return;
    }
    if (c.num_id) {
      auto found = registry.get_device_by_num_id(c.device.registry, *c.num_id);
      if (!found) {
        // An unknown number looks like any other authentication failure.
        c.res.send(found.error() == registry::registry_errc::device_not_found ||
                           found.error() == registry::registry_errc::registry_not_found ||
                           found.error() == registry::registry_errc::project_not_found
                       ? unauthenticated()
                       : registry_refused(found.error()));
        return;
      }
      c.device = found->key;
      c.credentials.client_id = registry::to_name(c.device);
    }
    c.path_device = c.device;
    auto admitted = admit(c.credentials, c.path_device, c.delegated);
    if (auto* refusal = std::get_if<http::response>(&admitted)) {
      c.res.send(std::move(*refusal));
      return;
    }
    const auth::identity& who = std::get<auth::identity>(admitted);
    if (!c.delegated.empty()) {
      c.device = who.device;
      if (auto r = registry.record_gateway_access(c.device, c.path_device.device); !r) {
        log::debug(component, "record_gateway_access failed: {}", r.error().message());
      }
    }
    switch (c.op) {
    case operation::publish_event:
      return publish_event(c, who);
    case operation::set_state:
      return set_state(c, who);
    case operation::get_config:
      return get_config(c, who);
    case operation::get_commands:
      return get_commands(c, who);
    }
  }

  // Authenticates `credentials` for the device of the path and, for a gateway acting for a
  // bound device (reference §2.3), checks the delegation as a gateway attach (association is
  // required: the request carries no token of the device). Returns the identity to act as, or
  // the answer refusing the request.
  std::variant<auth::identity, http::response> admit(const auth::connect_request& credentials,
                                                     const registry::device_key& path_device,
                                                     const std::string& delegated) {
    auto decision = chain.authenticate(credentials);
    if (!decision.allowed()) {
      return auth_refused(decision);
    }
    if (decision.who->kind == auth::identity_kind::application ||
        decision.who->device != path_device) {
      return permission_denied("The credential is not allowed to act for this device.");
    }
    if (delegated.empty()) {
      return std::move(*decision.who);
    }
    auto acting = attach.check(*decision.who, delegated, {});
    if (!acting.allowed()) {
      if (acting.reason == auth::auth_errc::server_unavailable) {
        return unavailable("The service is temporarily unavailable.");
      }
      // Unknown, blocked, not bound, a gateway itself: the gateway learns only "no".
      return permission_denied("The gateway may not act for this device.");
    }
    return std::move(*acting.who);
  }

  void publish_event(call& c, const auth::identity& who) {
    if (auto retry = take_rate(c.device, false)) {
      c.res.send(too_many(*retry, "Rate limit exceeded for this device."));
      return;
    }
    sink.publish_event(who, std::move(c.event.subfolder), std::move(c.event.data));
    mark_activity(c.device, event_activity);
    c.res.send(ok_empty());
  }

  void set_state(call& c, const auth::identity& who) {
    if (auto retry = take_rate(c.device, true)) {
      c.res.send(too_many(*retry, "State updates are limited to one per second per device."));
      return;
    }
    auto stored = registry.report_state(c.device, c.state.data);
    if (!stored) {
      c.res.send(registry_refused(stored.error()));
      return;
    }
    sink.publish_state(who, std::move(c.state.data));
    c.res.send(ok_empty());
  }

  // Answers `res` with `current` and records that the device was sent a configuration.
  void answer_config(const registry::device_key& device, const http::responder& res,
                     const registry::config_version& current) {
    res.send(http::response::json(200, detail::config_json(current)));
    mark_activity(device, config_sent_activity);
  }

  // --- activity (coalesced) -------------------------------------------------------------------

  void mark_activity(const registry::device_key& device, unsigned flags) {
    std::lock_guard lock(mutex);
    pending_activity[device] |= flags;
  }

  // Hands what accumulated to the executor as one job. Called with the mutex held; `submit`
  // takes it, so the job is submitted after the caller unlocks (returned, run by the caller).
  std::function<void()> take_activity_flush_locked(steady_time now, bool force) {
    if (pending_activity.empty() || (!force && next_activity_flush && now < *next_activity_flush)) {
      return {};
    }
    next_activity_flush = now + options.activity_flush_interval;
    auto batch = std::make_shared<std::map<registry::device_key, unsigned>>(
        std::exchange(pending_activity, {}));
    return [this, batch]() {
      std::uint64_t errors = 0;
      for (const auto& [device, flags] : *batch) {
        if ((flags & event_activity) != 0 && !registry.record_event(device)) {
          ++errors;
        }
        if ((flags & config_sent_activity) != 0 && !registry.record_config_sent(device)) {
          ++errors;
        }
      }
      if (errors != 0) {
        log::debug(component, "{} activity writes failed", errors);
        std::lock_guard lock(mutex);
        counters.activity_write_errors += errors;
      }
    };
  }

  static http::response out_of_range() {
    return http::error_response(http::rpc_status::out_of_range,
                                "local_version is newer than the device's latest configuration.");
  }

  void get_config(call& c, const auth::identity& who) {
    const auto& q = c.config;
    std::optional<std::uint64_t> id;
    if (q.wait.count() > 0 && q.local_version > 0) {
      // Registered before the store is read, so a change committed after the read still wakes
      // it (config_changed is called after the store has the new version).
      auto registered = register_poll(poll_kind::config, c, who);
      if (!registered) {
        return; // answered
      }
      id = *registered;
    }
    auto current = registry.get_config(c.device);
    if (!current) {
      answer_poll_or(id, c.res, registry_refused(current.error()));
      return;
    }
    if (q.local_version > current->version) {
      answer_poll_or(id, c.res, out_of_range());
      return;
    }
    if (id && current->version == q.local_version) {
      return; // held until config_changed, device_changed, the deadline or shutdown
    }
    if (id && !take_poll(*id)) {
      return; // somebody else answered it meanwhile
    }
    answer_config(c.device, c.res, *current);
  }

  void get_commands(call& c, const auth::identity& who) {
    register_poll(poll_kind::commands, c, who);
  }

  // Answers `res` with `r` unless `id` names a poll that is no longer held (already answered).
  void answer_poll_or(std::optional<std::uint64_t> id, const http::responder& res,
                      http::response r) {
    if (id && !take_poll(*id)) {
      return;
    }
    res.send(std::move(r));
  }

  // --- polls ----------------------------------------------------------------------------------

  steady_time deadline_for(std::chrono::seconds wait, const auth::identity& who) const {
    const auto now = clk.steady_now();
    auto deadline = now + wait;
    // Never hold a request past the credential that authenticated it.
    if (const auto close = who.close_deadline()) {
      const auto left = *close - clk.wall_now();
      deadline = std::min(deadline, now + std::chrono::duration_cast<steady_time::duration>(
                                              std::max(left, wall_time::duration::zero())));
    }
    return deadline;
  }

  // Registers a poll for `c`; answers it (and returns nullopt) when it cannot be held, or
  // when a commands poll finds commands pending or has no wait.
  std::optional<std::uint64_t> register_poll(poll_kind kind, call& c, const auth::identity& who) {
    const auto wait = kind == poll_kind::config ? c.config.wait : c.commands.wait;
    std::optional<http::response> answer;
    std::optional<std::uint64_t> held;
    {
      std::lock_guard lock(mutex);
      const auto now = clk.steady_now();
      if (stopping) {
        answer = unavailable("The server is shutting down.");
      } else {
        auto& entry = devices[c.device];
        prune_closed_polls(entry);
        if (entry.polls.size() >= options.max_polls_per_device) {
          answer = too_many(std::chrono::seconds(1),
                            "Too many open polls for this device (at most " +
                                std::to_string(options.max_polls_per_device) + ").");
        } else if (kind == poll_kind::commands && !entry.pending.empty() &&
                   subscribed(entry, now)) {
          std::vector<detail::command> list(std::make_move_iterator(entry.pending.begin()),
                                            std::make_move_iterator(entry.pending.end()));
          counters.commands_delivered += list.size();
          entry.pending.clear();
          entry.pending_bytes = 0;
          entry.commands_closed_at = now;
          answer = http::response::json(200, detail::commands_json(list));
        } else if (kind == poll_kind::commands && wait.count() == 0) {
          drop_pending(entry); // if any, their grace ran out
          entry.commands_closed_at = now;
          answer = http::response::no_content();
        } else {
          if (kind == poll_kind::commands) {
            drop_pending(entry);
          }
          const auto id = next_poll_id++;
          poll p;
          p.kind = kind;
          p.device = c.device;
          p.res = c.res;
          p.deadline = deadline_for(wait, who);
          p.local_version = c.config.local_version;
          p.credentials = std::make_shared<const auth::connect_request>(c.credentials);
          p.path_device = c.path_device;
          p.delegated = c.delegated;
          if (!p.delegated.empty()) {
            ++delegated_polls;
          }
          deadlines.emplace(p.deadline, id);
          polls.emplace(id, std::move(p));
          entry.polls.push_back(id);
          held = id;
          timer_wake.notify_one();
        }
      }
    }
    if (answer) {
      c.res.send(std::move(*answer));
    }
    return held;
  }

  // Under the mutex. Whether the device counts as subscribed to commands: a commands poll is
  // open, or the last one closed less than subscribed_grace ago.
  bool subscribed(const device_entry& e, steady_time now) const {
    for (const auto id : e.polls) {
      if (polls.at(id).kind == poll_kind::commands) {
        return true;
      }
    }
    return e.commands_closed_at && now - *e.commands_closed_at < options.subscribed_grace;
  }

  // Under the mutex. Pending commands nobody came back for in time are dropped.
  void drop_pending(device_entry& e) {
    counters.commands_dropped += e.pending.size();
    e.pending.clear();
    e.pending_bytes = 0;
  }

  // Under the mutex: forgets the polls of `e` whose connection closed.
  void prune_closed_polls(device_entry& e) {
    std::vector<std::uint64_t> closed;
    for (const auto id : e.polls) {
      const auto it = polls.find(id);
      if (it != polls.end() && !it->second.res.connection_open()) {
        closed.push_back(id);
      }
    }
    for (const auto id : closed) {
      ++counters.polls_connection_lost;
      remove_poll_locked(id);
    }
  }

  // Under the mutex: removes a held poll and returns it.
  std::optional<poll> remove_poll_locked(std::uint64_t id) {
    const auto it = polls.find(id);
    if (it == polls.end()) {
      return std::nullopt;
    }
    poll p = std::move(it->second);
    polls.erase(it);
    if (!p.delegated.empty()) {
      --delegated_polls;
    }
    const auto dev = devices.find(p.device);
    if (dev != devices.end()) {
      auto& list = dev->second.polls;
      list.erase(std::remove(list.begin(), list.end(), id), list.end());
      if (p.kind == poll_kind::commands) {
        dev->second.commands_closed_at = clk.steady_now();
      }
    }
    return p;
  }

  // Takes a held poll out of the table: true when the caller now owns its answer.
  bool take_poll(std::uint64_t id) {
    std::lock_guard lock(mutex);
    return remove_poll_locked(id).has_value();
  }

  // --- rates ----------------------------------------------------------------------------------

  // nullopt when allowed (and counted), else how long to wait.
  std::optional<std::chrono::seconds> take_rate(const registry::device_key& device, bool state) {
    std::lock_guard lock(mutex);
    const auto now = clk.steady_now();
    auto& e = devices[device];
    const double rate = std::max<double>(1.0, options.requests_per_second);
    if (!e.refilled_at) {
      e.tokens = rate;
    } else {
      const std::chrono::duration<double> elapsed = now - *e.refilled_at;
      e.tokens = std::min(rate, e.tokens + elapsed.count() * rate);
    }
    e.refilled_at = now;
    if (state && e.last_state && now - *e.last_state < options.min_state_interval) {
      return ceil_seconds(options.min_state_interval - (now - *e.last_state));
    }
    if (e.tokens < 1.0) {
      return ceil_seconds(std::chrono::duration_cast<steady_time::duration>(
          std::chrono::duration<double>((1.0 - e.tokens) / rate)));
    }
    e.tokens -= 1.0;
    if (state) {
      e.last_state = now;
    }
    return std::nullopt;
  }

  // --- events from the rest of the server ---------------------------------------------------

  bool deliver_command(const registry::device_key& device, std::string subfolder, bytes payload) {
    http::responder target;
    {
      std::lock_guard lock(mutex);
      if (stopping) {
        return false;
      }
      const auto it = devices.find(device);
      if (it == devices.end()) {
        return false;
      }
      auto& entry = it->second;
      prune_closed_polls(entry);
      for (const auto id : entry.polls) {
        if (polls.at(id).kind == poll_kind::commands) {
          target = remove_poll_locked(id)->res;
          ++counters.commands_delivered;
          break;
        }
      }
      if (!target.connection_open()) {
        const auto now = clk.steady_now();
        if (!subscribed(entry, now) || entry.pending.size() >= options.max_pending_commands ||
            entry.pending_bytes + payload.size() > options.max_pending_command_bytes) {
          return false;
        }
        entry.pending_bytes += payload.size();
        entry.pending.push_back({std::move(subfolder), std::move(payload)});
        return true;
      }
    }
    target.send(http::response::json(
        200, detail::commands_json({{std::move(subfolder), std::move(payload)}})));
    return true;
  }

  void config_changed(const registry::device_key& device, const registry::config_version& latest) {
    std::vector<http::responder> woken;
    {
      std::lock_guard lock(mutex);
      const auto it = devices.find(device);
      if (it == devices.end()) {
        return;
      }
      const auto ids = it->second.polls;
      for (const auto id : ids) {
        const auto& p = polls.at(id);
        if (p.kind == poll_kind::config && p.local_version < latest.version) {
          woken.push_back(remove_poll_locked(id)->res);
        }
      }
    }
    if (woken.empty()) {
      return;
    }
    const auto body = detail::config_json(latest);
    for (const auto& res : woken) {
      res.send(http::response::json(200, body));
    }
    mark_activity(device, config_sent_activity);
  }

  void device_changed(const registry::device_key& device) {
    recheck_where([&device](const poll& p) {
      // The device's own polls, and those a gateway that changed holds for others.
      return p.device == device || (!p.delegated.empty() && p.path_device == device);
    });
  }

  void registry_changed(const registry::registry_key& reg) {
    recheck_where([&reg](const poll& p) { return p.device.registry == reg; });
  }

  void certificate_revoked() {
    recheck_where([](const poll& p) { return !p.credentials->peer_certificates.empty(); });
  }

  // Re-runs the whole chain for each open poll `affected` selects: the same rules as a new
  // request (deleted, blocked, HTTP disabled, credential removed, expired or revoked), each
  // decision audited; a poll that no longer passes is answered with the refusal at once.
  template <class Pred>
  void recheck_where(const Pred& affected) {
    struct held_poll {
      std::uint64_t id;
      registry::device_key device;
      std::shared_ptr<const auth::connect_request> credentials;
      registry::device_key path_device;
      std::string delegated;
    };
    std::vector<held_poll> held;
    {
      std::lock_guard lock(mutex);
      for (const auto& [id, p] : polls) {
        if (affected(p)) {
          held.push_back({id, p.device, p.credentials, p.path_device, p.delegated});
        }
      }
    }
    if (held.empty()) {
      return;
    }
    auto recheck = [this, held]() {
      for (const auto& h : held) {
        auto admitted = admit(*h.credentials, h.path_device, h.delegated);
        if (auto* refusal = std::get_if<http::response>(&admitted)) {
          close_poll(h.id, std::move(*refusal));
        } else if (std::get<auth::identity>(admitted).device != h.device) {
          close_poll(h.id,
                     permission_denied("The credential is not allowed to act for this device."));
        }
      }
    };
    if (!submit(recheck)) {
      // Fail closed: without a recheck the polls cannot be trusted to stay open.
      for (const auto& h : held) {
        close_poll(h.id, unavailable("The server is busy."));
      }
    }
  }

  void close_poll(std::uint64_t id, http::response r) {
    std::optional<poll> p;
    {
      std::lock_guard lock(mutex);
      p = remove_poll_locked(id);
    }
    if (p) {
      p->res.send(std::move(r));
    }
  }

  void shutdown() {
    // The last interval's activity is written before the executor is refused to us.
    std::function<void()> flush;
    {
      std::lock_guard lock(mutex);
      if (!stopping) {
        flush = take_activity_flush_locked(clk.steady_now(), true);
      }
    }
    if (flush) {
      submit(std::move(flush));
    }
    std::vector<poll> open;
    {
      std::lock_guard lock(mutex);
      stopping = true;
      for (auto& [id, p] : polls) {
        (void)id;
        open.push_back(std::move(p));
      }
      polls.clear();
      delegated_polls = 0;
      devices.clear();
      deadlines = {};
      timer_wake.notify_all();
    }
    for (const auto& p : open) {
      p.res.send(unavailable("The server is shutting down."));
    }
  }

  // --- timers ---------------------------------------------------------------------------------

  // Answers polls whose deadline passed; every sweep_interval (or when forced) also frees the
  // slots of polls whose connection closed, drops pending commands whose grace ran out, forgets
  // idle devices, and compacts the deadline heap.
  void run_timers(bool force_sweep) {
    std::vector<poll> expired;
    std::function<void()> flush;
    {
      std::lock_guard lock(mutex);
      const auto now = clk.steady_now();
      while (!deadlines.empty() && deadlines.top().first <= now) {
        const auto [deadline, id] = deadlines.top();
        deadlines.pop();
        const auto it = polls.find(id);
        if (it != polls.end() && it->second.deadline == deadline) {
          expired.push_back(*remove_poll_locked(id));
        }
      }
      if (force_sweep || !next_sweep || now >= *next_sweep) {
        sweep_locked(now);
        next_sweep = now + options.sweep_interval;
      }
      if (!stopping) {
        flush = take_activity_flush_locked(now, force_sweep);
      }
    }
    if (flush) {
      submit(std::move(flush));
    }
    for (auto& p : expired) {
      if (p.kind == poll_kind::commands) {
        p.res.send(http::response::no_content());
        continue;
      }
      // Nothing newer came: answer with the current version (re-read, the poll kept no data).
      auto device = p.device;
      auto res = p.res;
      if (!submit([this, device, res]() {
            auto current = registry.get_config(device);
            if (!current) {
              res.send(registry_refused(current.error()));
              return;
            }
            answer_config(device, res, *current);
          })) {
        p.res.send(unavailable("The server is busy."));
      }
    }
  }

  void sweep_locked(steady_time now) {
    std::vector<std::uint64_t> closed;
    for (const auto& [id, p] : polls) {
      if (!p.res.connection_open()) {
        closed.push_back(id);
      }
    }
    for (const auto id : closed) {
      ++counters.polls_connection_lost;
      remove_poll_locked(id);
    }
    for (auto it = devices.begin(); it != devices.end();) {
      auto& e = it->second;
      if (!e.pending.empty() && !subscribed(e, now)) {
        drop_pending(e);
      }
      const bool idle = e.polls.empty() && e.pending.empty() && !subscribed(e, now) &&
                        (!e.refilled_at || now - *e.refilled_at >= std::chrono::seconds(1)) &&
                        (!e.last_state || now - *e.last_state >= options.min_state_interval);
      it = idle ? devices.erase(it) : std::next(it);
    }
    if (deadlines.size() > 2 * polls.size() + 1024) {
      decltype(deadlines) fresh;
      for (const auto& [id, p] : polls) {
        fresh.emplace(p.deadline, id);
      }
      deadlines = std::move(fresh);
    }
  }

  void timer_loop() {
    std::unique_lock lock(mutex);
    while (!timer_exit) {
      const auto now = clk.steady_now();
      auto wake = next_sweep.value_or(now);
      if (!deadlines.empty()) {
        wake = std::min(wake, deadlines.top().first);
      }
      if (wake <= now) {
        lock.unlock();
        run_timers(false);
        lock.lock();
        continue;
      }
      // The injected clock may be a manual one: never sleep longer than a sweep interval of
      // real time before looking at it again.
      const auto sleep = std::min<steady_time::duration>(wake - now, options.sweep_interval);
      timer_wake.wait_for(lock, sleep);
    }
  }
};

device_bridge::device_bridge(bridge_options options, auth::authenticator_chain& chain,
                             registry::registry_service& registry, blocking_executor run,
                             telemetry_sink& sink, const clock& clk)
    : impl_(std::make_shared<impl>(options, chain, registry, std::move(run), sink, clk)) {
  impl_->timer = std::thread([i = impl_.get()]() { i->timer_loop(); });
}

device_bridge::~device_bridge() {
  impl_->shutdown();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->timer_exit = true;
    impl_->timer_wake.notify_all();
  }
  impl_->timer.join();
  std::unique_lock lock(impl_->mutex);
  impl_->drained.wait(lock, [this]() { return impl_->in_flight == 0; });
}

void device_bridge::add_routes(http::router& r) {
  constexpr std::string_view base =
      "/v1/projects/{project}/locations/{location}/registries/{registry}/devices/";
  const auto route = [&](std::string_view method, std::string_view tail, operation op) {
    r.add(
        method, std::string(base) + std::string(tail),
        [i = impl_, op](http::request&& req, const http::path_params& params, http::responder res) {
          i->on_request(op, std::move(req), params, std::move(res));
        });
  };
  route("POST", "{device}:publishEvent", operation::publish_event);
  route("POST", "{device}:setState", operation::set_state);
  route("GET", "{device}/config", operation::get_config);
  route("GET", "{device}/commands", operation::get_commands);
}

bool device_bridge::deliver_command(const registry::device_key& device, std::string subfolder,
                                    bytes payload) {
  return impl_->deliver_command(device, std::move(subfolder), std::move(payload));
}

void device_bridge::config_changed(const registry::device_key& device,
                                   const registry::config_version& latest) {
  impl_->config_changed(device, latest);
}

void device_bridge::device_changed(const registry::device_key& device) {
  impl_->device_changed(device);
}

void device_bridge::registry_changed(const registry::registry_key& reg) {
  impl_->registry_changed(reg);
}

void device_bridge::certificate_revoked() {
  impl_->certificate_revoked();
}

void device_bridge::shutdown() {
  impl_->shutdown();
}

bridge_stats device_bridge::stats() const {
  std::lock_guard lock(impl_->mutex);
  auto s = impl_->counters;
  s.open_polls = impl_->polls.size();
  s.tracked_devices = impl_->devices.size();
  return s;
}

void device_bridge::run_timers_for_test() {
  impl_->run_timers(true);
}

} // namespace aegis::bridge
