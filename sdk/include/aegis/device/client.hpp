#pragma once

// device_client: one device's (or gateway's) MQTT session with an Aegis / IoT Core style server.
//
// Guarantees:
//  - Only the root certificates given in the options are trusted (the system store only with
//    use_system_roots), the host name (or IP address) dialled is checked against the server
//    certificate, and nothing older than TLS 1.2 is spoken. A refusal is reported through the
//    connection callback (device_errc::untrusted_server / host_name_mismatch /
//    tls_version_refused) and the client never sends its credentials to that server.
//  - publish_event() pushes into the offline_queue first and returns its sequence; an event
//    leaves the queue only when the server acknowledged it (PUBACK). After any reconnect the
//    unacknowledged events are sent again, oldest first: nothing the queue accepted is lost
//    (at-least-once; a resend may duplicate).
//  - The JWT is minted at every connect and renewed by reconnecting before it expires (at
//    renew_at of its lifetime), without touching the queue.
//  - Any drop is followed by a reconnect after an exponential backoff with full jitter.
//
// Threading: the client owns one I/O thread (an Asio io_context). Every public member may be
// called from any thread. Callbacks run on the I/O thread: keep them short, and do not call
// stop() or destroy the client from inside one.

#include "aegis/base/bytes.hpp"
#include "aegis/base/error.hpp"
#include "aegis/device/errors.hpp"
#include "aegis/device/keystore.hpp"
#include "aegis/device/offline_queue.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace aegis::device {

enum class mqtt_version : std::uint8_t { v3_1_1 = 4, v5 = 5 };

struct client_options {
  // Server.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8883;
  std::vector<std::filesystem::path> root_ca_files; // PEM; the only trusted roots
  bool use_system_roots = false;

  // Identity: projects/{project}/locations/{location}/registries/{registry}/devices/{device}.
  std::string project_id;
  std::string location = "global";
  std::string registry_id;
  std::string device_id;

  // Either a JWT signer (the password of every CONNECT) ...
  const signer* jwt_signer = nullptr; // not owned; must outlive the client
  std::chrono::seconds token_lifetime{3600};
  // The connection is renewed when this fraction of the token's lifetime has passed.
  double renew_at = 0.8;
  // ... or a client certificate (mutual TLS): PEM chain and PEM key file.
  std::filesystem::path client_certificate_file;
  std::filesystem::path client_key_file;

  mqtt_version version = mqtt_version::v3_1_1;
  std::chrono::seconds keep_alive{60};
  std::chrono::seconds connect_timeout{30}; // TCP + TLS + CONNACK
  std::chrono::milliseconds backoff_min{500};
  std::chrono::milliseconds backoff_max{60'000};

  // At most this many QoS 1 events unacknowledged at once, and at most this many publishes a
  // second (the server drops, and a 3.1.1 device cannot be told, what exceeds its rate).
  std::size_t max_inflight = 16;
  double max_publish_rate = 50.0;

  bool gateway = false; // subscribes to /devices/{id}/errors too
  // Cap on state, attach/detach and leaf events waiting in memory (queue_full beyond it).
  std::size_t max_pending_control = 1000;

  offline_queue* queue = nullptr; // not owned; must outlive the client
};

enum class connection_state : std::uint8_t {
  connecting,   // dialling (first time or after a backoff)
  connected,    // CONNACK accepted, subscriptions sent
  disconnected, // dropped or refused; `error` says why; a reconnect follows
  stopped,      // stop() finished
};
std::string_view to_string(connection_state s) noexcept;

struct client_stats {
  std::uint64_t connects = 0;       // CONNACKs accepted
  std::uint64_t token_renewals = 0; // reconnects made to renew the JWT
  std::uint64_t events_sent = 0;    // PUBLISH packets of events, resends included
  std::uint64_t events_acked = 0;
  std::uint64_t events_refused = 0; // v5 PUBACK with a refusal other than a quota
  std::uint64_t config_received = 0;
  std::uint64_t commands_received = 0;
  // The code of the last refusal: CONNACK return code (3.1.1) or reason code (v5), or a v5
  // DISCONNECT's reason. 0 when none.
  std::uint8_t last_refusal_code = 0;
};

class device_client {
public:
  using config_handler = std::function<void(bytes_view payload)>;
  using command_handler = std::function<void(std::string_view subfolder, bytes_view payload)>;
  using state_handler = std::function<void(connection_state, std::error_code)>;
  // For a gateway: config and commands of the devices attached through it.
  using leaf_config_handler = std::function<void(std::string_view device_id, bytes_view)>;
  using leaf_command_handler =
      std::function<void(std::string_view device_id, std::string_view subfolder, bytes_view)>;
  // An event left the queue: the server acknowledged it (`error` empty) or refused it (v5).
  using ack_handler = std::function<void(std::uint64_t sequence, std::error_code error)>;
  // The server's answer to attach/detach (PUBACK reason; 3.1.1 always success).
  using attach_handler = std::function<void(std::string_view device_id, std::error_code)>;

  // Fails with device_errc::bad_config when options are missing or out of range.
  static result<std::unique_ptr<device_client>> create(client_options options);
  virtual ~device_client() = default;

  // Set handlers before start().
  virtual void on_config(config_handler cb) = 0;
  virtual void on_command(command_handler cb) = 0;
  virtual void on_connection_state(state_handler cb) = 0;
  virtual void on_event_acked(ack_handler cb) = 0;
  virtual void on_leaf_config(leaf_config_handler cb) = 0;
  virtual void on_leaf_command(leaf_command_handler cb) = 0;
  virtual void on_gateway_error(config_handler cb) = 0;
  virtual void on_attach_result(attach_handler cb) = 0;

  // Starts the I/O thread; once per client (a later call does nothing).
  virtual void start() = 0;
  // Sends DISCONNECT when connected, closes, joins the I/O thread (at most ~3 s). What is still
  // in the queue stays there for the next client.
  virtual void stop() = 0;

  // QoS 1 telemetry to /devices/{device}/events[/subfolder]. Returns the queue sequence, or
  // device_errc::queue_full / payload_too_large (nothing was queued then).
  virtual result<std::uint64_t> publish_event(std::string_view subfolder, bytes payload) = 0;
  // QoS 1 to /devices/{device}/state; the latest state replaces an unsent older one and is sent
  // again after a reconnect until acknowledged (kept in memory only).
  virtual result<void> set_state(bytes payload) = 0;

  // Gateway mode (kept in memory; re-attached after every reconnect). `jwt` is the leaf's own
  // token for the methods that need it, empty for association only.
  virtual result<void> attach(std::string_view device_id, std::string jwt) = 0;
  virtual result<void> detach(std::string_view device_id) = 0;
  // QoS 1 event on behalf of an attached device (in memory, resent after a reconnect).
  virtual result<void> publish_event_for(std::string_view device_id, std::string_view subfolder,
                                         bytes payload) = 0;

  virtual connection_state state() const noexcept = 0;
  virtual client_stats stats() const = 0;
  // projects/{p}/locations/{l}/registries/{r}/devices/{d}
  virtual std::string client_id() const = 0;
};

} // namespace aegis::device
