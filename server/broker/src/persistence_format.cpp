#include "persistence_format.hpp"

#include "aegis/mqtt/codec.hpp"

#include <limits>

namespace aegis::broker::detail {
namespace {

class writer {
public:
  writer() { out_.push_back(format_version); }
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8U));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      out_.push_back(static_cast<std::uint8_t>(v >> static_cast<unsigned>(shift)));
    }
  }
  void u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      out_.push_back(static_cast<std::uint8_t>(v >> static_cast<unsigned>(shift)));
    }
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  // Strings here are MQTT strings or account names: at most 65,535 bytes by the protocol.
  void str(std::string_view s) {
    const auto n = static_cast<std::uint16_t>(std::min<std::size_t>(s.size(), 65535U));
    u16(n);
    out_.insert(out_.end(), s.begin(), s.begin() + n);
  }
  void raw(bytes_view b) { out_.insert(out_.end(), b.begin(), b.end()); }
  bytes take() { return std::move(out_); }

private:
  bytes out_;
};

// Every read is bounds-checked; the first failure makes the reader fail for good.
class reader {
public:
  explicit reader(bytes_view data) : data_(data) {
    if (data_.empty() || data_[0] != format_version) {
      ok_ = false;
    } else {
      pos_ = 1;
    }
  }
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == data_.size(); }

  std::uint8_t u8() {
    if (!need(1)) {
      return 0;
    }
    return data_[pos_++];
  }
  std::uint16_t u16() {
    if (!need(2)) {
      return 0;
    }
    const auto v = static_cast<std::uint16_t>((data_[pos_] << 8U) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() {
    if (!need(4)) {
      return 0;
    }
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v = (v << 8U) | data_[pos_++];
    }
    return v;
  }
  std::uint64_t u64() {
    if (!need(8)) {
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v = (v << 8U) | data_[pos_++];
    }
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  std::string str() {
    const std::uint16_t n = u16();
    if (!need(n)) {
      return {};
    }
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  bytes_view rest() {
    if (!ok_) {
      return {};
    }
    auto r = data_.subspan(pos_);
    pos_ = data_.size();
    return r;
  }
  void fail() { ok_ = false; }

private:
  bool need(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  bytes_view data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

std::optional<mqtt::qos> qos_of(std::uint8_t v) {
  if (v > 2) {
    return std::nullopt;
  }
  return static_cast<mqtt::qos>(v);
}

} // namespace

bytes encode_session(const session_record& r) {
  writer w;
  w.u8(static_cast<std::uint8_t>(r.version));
  w.u32(r.expiry_interval);
  w.u8(r.expires_at_ms ? 1 : 0);
  w.i64(r.expires_at_ms.value_or(0));
  w.u8(static_cast<std::uint8_t>(r.method));
  w.str(r.account);
  return w.take();
}

std::optional<session_record> decode_session(bytes_view data) {
  reader rd(data);
  session_record r;
  const std::uint8_t version = rd.u8();
  r.expiry_interval = rd.u32();
  const std::uint8_t has_expiry = rd.u8();
  const std::int64_t expires = rd.i64();
  const std::uint8_t method = rd.u8();
  r.account = rd.str();
  if (!rd.done() || has_expiry > 1 || r.expiry_interval == 0 ||
      method > static_cast<std::uint8_t>(auth::auth_method::gateway_association)) {
    return std::nullopt;
  }
  if (version == static_cast<std::uint8_t>(mqtt::protocol_version::v5)) {
    r.version = mqtt::protocol_version::v5;
  } else if (version == static_cast<std::uint8_t>(mqtt::protocol_version::v3_1_1)) {
    r.version = mqtt::protocol_version::v3_1_1;
  } else {
    return std::nullopt;
  }
  if (has_expiry == 1) {
    r.expires_at_ms = expires;
  }
  r.method = static_cast<auth::auth_method>(method);
  return r;
}

bytes encode_subscription(const subscriber_options& o) {
  writer w;
  w.u8(static_cast<std::uint8_t>(o.max_qos));
  w.u8(static_cast<std::uint8_t>((o.no_local ? 1U : 0U) | (o.retain_as_published ? 2U : 0U)));
  w.u8(static_cast<std::uint8_t>(o.retain_handling));
  w.u32(o.subscription_identifier);
  return w.take();
}

std::optional<subscriber_options> decode_subscription(bytes_view data) {
  reader rd(data);
  const auto q = qos_of(rd.u8());
  const std::uint8_t flags = rd.u8();
  const std::uint8_t handling = rd.u8();
  subscriber_options o;
  o.subscription_identifier = rd.u32();
  if (!rd.done() || !q || flags > 3 || handling > 2) {
    return std::nullopt;
  }
  o.max_qos = *q;
  o.no_local = (flags & 1U) != 0;
  o.retain_as_published = (flags & 2U) != 0;
  o.retain_handling = static_cast<mqtt::retain_handling>(handling);
  return o;
}

std::optional<bytes> encode_message(const message& m, std::optional<std::int64_t> expires_at_ms) {
  mqtt::publish p;
  p.topic = m.topic;
  p.payload = m.payload;
  p.qos = m.qos;
  p.retain = m.retain;
  p.packet_id = m.qos == mqtt::qos::at_most_once ? 0 : 1;
  p.properties = m.properties;
  p.properties.topic_alias.reset();
  p.properties.subscription_identifiers.clear();
  bytes packet;
  if (!mqtt::encode_to(p, mqtt::protocol_version::v5, packet)) {
    return std::nullopt;
  }
  writer w;
  w.u8(expires_at_ms ? 1 : 0);
  w.i64(expires_at_ms.value_or(0));
  w.raw(packet);
  return w.take();
}

std::optional<message_record> decode_message(bytes_view data) {
  reader rd(data);
  const std::uint8_t has_expiry = rd.u8();
  const std::int64_t expires = rd.i64();
  const bytes_view packet = rd.rest();
  if (!rd.ok() || has_expiry > 1 || packet.empty()) {
    return std::nullopt;
  }
  auto decoded = mqtt::decode(packet, mqtt::decoder_options{.version = mqtt::protocol_version::v5,
                                                            .from = mqtt::sender::either,
                                                            .validate_payload_format = false});
  if (!decoded) {
    return std::nullopt;
  }
  auto* p = std::get_if<mqtt::publish>(&*decoded);
  if (p == nullptr || p->topic.empty() || p->properties.topic_alias ||
      !p->properties.subscription_identifiers.empty()) {
    return std::nullopt;
  }
  message_record r;
  r.msg.topic = std::move(p->topic);
  r.msg.payload = std::move(p->payload);
  r.msg.qos = p->qos;
  r.msg.retain = p->retain;
  r.msg.properties = std::move(p->properties);
  if (has_expiry == 1) {
    r.expires_at_ms = expires;
  }
  return r;
}

bytes encode_queue_entry(const queue_record& r) {
  writer w;
  w.u64(r.message_id);
  w.u8(static_cast<std::uint8_t>(r.q));
  w.u8(r.retain ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(r.state));
  w.u16(r.packet_id);
  const auto n = static_cast<std::uint16_t>(
      std::min<std::size_t>(r.subscription_ids.size(), std::numeric_limits<std::uint16_t>::max()));
  w.u16(n);
  for (std::size_t i = 0; i < n; ++i) {
    w.u32(r.subscription_ids[i]);
  }
  return w.take();
}

std::optional<queue_record> decode_queue_entry(bytes_view data) {
  reader rd(data);
  queue_record r;
  r.message_id = rd.u64();
  const auto q = qos_of(rd.u8());
  const std::uint8_t retain = rd.u8();
  const std::uint8_t state = rd.u8();
  r.packet_id = rd.u16();
  const std::uint16_t n = rd.u16();
  for (std::uint16_t i = 0; i < n && rd.ok(); ++i) {
    r.subscription_ids.push_back(rd.u32());
  }
  if (!rd.done() || !q || *q == mqtt::qos::at_most_once || retain > 1 || state > 2 ||
      r.message_id == 0) {
    return std::nullopt;
  }
  r.q = *q;
  r.retain = retain == 1;
  r.state = static_cast<entry_state>(state);
  const bool needs_id = r.state != entry_state::queued;
  if (needs_id != (r.packet_id != 0) ||
      (r.state == entry_state::released && r.q != mqtt::qos::exactly_once)) {
    return std::nullopt;
  }
  return r;
}

bytes encode_marker() {
  writer w;
  return w.take();
}

bool decode_marker(bytes_view data) {
  return reader(data).done();
}

std::string child_key(std::string_view client_id, std::string_view suffix) {
  std::string k;
  k.reserve(client_id.size() + 1 + suffix.size());
  k.append(client_id);
  k.push_back('\0');
  k.append(suffix);
  return k;
}

std::string u64_key(std::uint64_t v) {
  std::string k(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) {
    k[i] = static_cast<char>(static_cast<std::uint8_t>(v >> ((7U - i) * 8U)));
  }
  return k;
}

std::string u16_key(std::uint16_t v) {
  return {static_cast<char>(static_cast<std::uint8_t>(v >> 8U)),
          static_cast<char>(static_cast<std::uint8_t>(v))};
}

std::optional<std::uint64_t> parse_u64_key(std::string_view key) {
  if (key.size() != 8) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (const char c : key) {
    v = (v << 8U) | static_cast<std::uint8_t>(c);
  }
  return v;
}

std::optional<std::uint16_t> parse_u16_key(std::string_view key) {
  if (key.size() != 2) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(key[0]) << 8U) |
                                    static_cast<std::uint8_t>(key[1]));
}

std::optional<std::pair<std::string_view, std::string_view>> split_child_key(std::string_view key) {
  const auto nul = key.find('\0');
  if (nul == std::string_view::npos || nul == 0) {
    return std::nullopt;
  }
  return std::pair(key.substr(0, nul), key.substr(nul + 1));
}

} // namespace aegis::broker::detail
