// libFuzzer target for what broker_core::restore reads from a store (STYLE.md habit 13): the
// input is cut into records (a space byte, a 1-byte key length, the key, a 2-byte value length,
// the value), restored into a broker_core, and the restored sessions are then resumed and
// acknowledged. It aborts (or the sanitizers do) when:
//  - restore crashes, overflows or hangs on any record (the decoders are bounds-checked);
//  - two restores of the same snapshot disagree (restore depends on nothing but its input).
// Seeds: fuzz/broker_restore_fuzz_seeds/, records written by the core itself.

#include "aegis/broker/broker_core.hpp"
#include "persistence_format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace {

using namespace aegis;
using namespace aegis::broker;

state_snapshot parse(const std::uint8_t* data, std::size_t size) {
  std::map<std::pair<state_space, std::string>, bytes> records;
  std::size_t pos = 0;
  while (pos + 4 <= size) {
    const auto space = static_cast<state_space>(data[pos] % all_state_spaces.size() + 1);
    const std::size_t key_len = data[pos + 1];
    pos += 2;
    if (pos + key_len + 2 > size) {
      break;
    }
    std::string key(reinterpret_cast<const char*>(data + pos), key_len);
    pos += key_len;
    const std::size_t value_len = static_cast<std::size_t>(data[pos] << 8U) | data[pos + 1];
    pos += 2;
    if (pos + value_len > size) {
      break;
    }
    records[{space, std::move(key)}] = bytes(data + pos, data + pos + value_len);
    pos += value_len;
  }
  state_snapshot snap;
  for (auto& [k, v] : records) {
    snap.of(k.first).push_back(state_record{k.second, std::move(v)});
  }
  return snap;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const state_snapshot snap = parse(data, size);
  allow_all_authorizer authz;
  manual_clock clock;
  broker_core core({}, authz);
  const restore_report rep = core.restore(snap, clock.steady_now(), clock.wall_now());
  (void)core.take_journal();
  // Resume every restored session and acknowledge what it is sent.
  connection_id conn = 1;
  for (const auto& r : snap.of(state_space::session)) {
    if (!core.find_session(r.key)) {
      continue;
    }
    mqtt::connect c;
    c.client_id = r.key;
    c.clean_start = false;
    c.properties.session_expiry_interval = 60;
    auto as = core.on_connect(conn, std::move(c), client_identity{""}, clock.steady_now());
    for (const auto& a : as) {
      if (const auto* s = std::get_if<send_action>(&a)) {
        if (const auto* p = std::get_if<mqtt::publish>(&s->packet);
            p != nullptr && p->qos == mqtt::qos::at_least_once) {
          mqtt::puback ack;
          ack.packet_id = p->packet_id;
          (void)core.on_packet(conn, ack, clock.steady_now());
        }
      }
    }
    ++conn;
  }
  // A second core restored from the same snapshot finds the same.
  broker_core again({}, authz);
  const restore_report rep2 = again.restore(snap, clock.steady_now(), clock.wall_now());
  if (rep.sessions != rep2.sessions || rep.queued != rep2.queued || rep.inflight != rep2.inflight ||
      rep.retained != rep2.retained) {
    std::abort();
  }
  return 0;
}
