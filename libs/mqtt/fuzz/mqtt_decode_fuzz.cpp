// libFuzzer target for the MQTT codec (STYLE.md habit 13). For each way a connection can start
// (server before CONNECT, 3.1.1, 5.0) it feeds the input to a frame_decoder twice, whole and in
// small chunks, and aborts when:
//  - the two feedings disagree (packets or error): the decoder depends on where reads split;
//  - a decoded packet does not encode, or decode(encode(p)) != p: encoder and decoder disagree;
//  - topic_matches disagrees with a naive split-by-level matcher on the topics and filters seen.
// Seeds: fuzz/mqtt_decode_fuzz_seeds/, the unit tests' vectors.

#include "aegis/mqtt/codec.hpp"
#include "aegis/mqtt/topic.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace aegis;
using namespace aegis::mqtt;

struct outcome {
  std::vector<packet> packets;
  std::vector<protocol_version> versions; // in force for each packet
  std::optional<std::error_code> error;
};

outcome run(bytes_view data, const decoder_options& options, std::size_t chunk) {
  frame_decoder decoder(options);
  outcome out;
  std::size_t pos = 0;
  while (pos < data.size() && !out.error) {
    const std::size_t n = std::min(chunk, data.size() - pos);
    bytes_view input = data.subspan(pos, n);
    pos += n;
    while (!input.empty()) {
      auto r = decoder.next(input);
      if (!r) {
        out.error = r.error();
        break;
      }
      if (!r->has_value()) {
        break;
      }
      const auto* c = std::get_if<connect>(&**r);
      out.versions.push_back(c != nullptr ? c->version
                                          : decoder.version().value_or(protocol_version::v5));
      out.packets.push_back(std::move(**r));
    }
  }
  return out;
}

[[noreturn]] void bug(const char* what) {
  std::fprintf(stderr, "mqtt_decode_fuzz: %s\n", what);
  std::abort();
}

void check_round_trip(const packet& p, protocol_version version, const decoder_options& options) {
  auto wire = encode(p, version);
  if (!wire) {
    std::fprintf(stderr, "encode: %s\n", wire.error().message().c_str());
    bug("a decoded packet does not encode");
  }
  auto size = encoded_size(p, version);
  if (!size || *size != wire->size()) {
    bug("encoded_size differs from the encoding");
  }
  decoder_options again = options;
  again.version = version;
  again.maximum_packet_size = max_packet_size;
  auto back = decode(*wire, again);
  if (!back) {
    std::fprintf(stderr, "decode: %s\n", back.error().message().c_str());
    bug("an encoded packet does not decode");
  }
  if (!(*back == p)) {
    bug("decode(encode(p)) != p");
  }
  if (const auto* pub = std::get_if<publish>(&p)) {
    bytes gathered;
    if (!encode_publish_header(*pub, version, gathered)) {
      bug("encode_publish_header refused a packet encode accepted");
    }
    gathered.insert(gathered.end(), pub->payload.begin(), pub->payload.end());
    if (gathered != *wire) {
      bug("encode_publish_header + payload differs from encode");
    }
  }
}

std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      return out;
    }
    start = slash + 1;
  }
}

// §4.7 read literally, for comparison with the single-pass topic_matches.
bool reference_match(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  const auto f = levels(filter);
  const auto t = levels(topic);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") {
      return true;
    }
    if (i >= t.size() || (f[i] != "+" && f[i] != t[i])) {
      return false;
    }
  }
  return f.size() == t.size();
}

void check_matching(const std::vector<packet>& packets) {
  std::vector<std::string_view> topics;
  std::vector<std::string_view> filters;
  for (const auto& p : packets) {
    if (const auto* pub = std::get_if<publish>(&p); pub != nullptr && !pub->topic.empty()) {
      topics.push_back(pub->topic);
    } else if (const auto* sub = std::get_if<subscribe>(&p)) {
      for (const auto& s : sub->subscriptions) {
        std::string_view filter = s.filter;
        if (is_shared_subscription(filter)) {
          auto shared = parse_shared_subscription(filter);
          if (!shared) {
            continue; // a 3.1.1 "$share/..." filter need not be a valid shared subscription
          }
          filter = shared->filter;
        }
        filters.push_back(filter);
        topics.push_back(s.filter); // filters without wildcards are topics too
      }
    }
  }
  for (const auto f : filters) {
    for (const auto t : topics) {
      if (!validate_topic_name(t)) {
        continue;
      }
      if (topic_matches(f, t) != reference_match(f, t)) {
        bug("topic_matches disagrees with the reference matcher");
      }
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bytes_view input(data, size);
  // A split pattern that varies with the input but is reproducible from it.
  const std::size_t chunk = size == 0 ? 1 : 1 + data[size - 1] % 7;
  struct start {
    std::optional<protocol_version> version;
    sender from;
  };
  // A server before CONNECT, then each version from each side.
  const start starts[] = {{std::nullopt, sender::client},
                          {protocol_version::v3_1_1, sender::client},
                          {protocol_version::v3_1_1, sender::server},
                          {protocol_version::v5, sender::client},
                          {protocol_version::v5, sender::server}};
  for (const auto& s : starts) {
    decoder_options options;
    options.version = s.version;
    options.from = s.from;
    options.maximum_packet_size = 64 * 1024;
    const outcome whole = run(input, options, size == 0 ? 1 : size);
    const outcome split = run(input, options, chunk);
    if (whole.packets != split.packets || whole.error != split.error) {
      bug("whole and split feeding disagree");
    }
    for (std::size_t i = 0; i < whole.packets.size(); ++i) {
      check_round_trip(whole.packets[i], whole.versions[i], options);
    }
    check_matching(whole.packets);
  }
  return 0;
}
