#include "aegis/base/log.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>

namespace aegis::log {
namespace {

struct state {
  std::mutex mutex;
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<level> min_level{level::info};
  std::atomic<output_format> format{output_format::human};
};

state& global() {
  static state s;
  return s;
}

spdlog::level::level_enum to_spdlog(level lvl) {
  switch (lvl) {
  case level::trace:
    return spdlog::level::trace;
  case level::debug:
    return spdlog::level::debug;
  case level::info:
    return spdlog::level::info;
  case level::warn:
    return spdlog::level::warn;
  case level::error:
    return spdlog::level::err;
  case level::critical:
    return spdlog::level::critical;
  case level::off:
    break;
  }
  return spdlog::level::off;
}

void install(const options& opts, spdlog::sink_ptr sink) {
  auto& s = global();
  // The line is fully formatted here, so the sink only adds the newline.
  sink->set_pattern("%v");
  auto logger = std::make_shared<spdlog::logger>("aegis", std::move(sink));
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::warn);
  std::lock_guard lock(s.mutex);
  s.logger = std::move(logger);
  s.min_level = opts.min_level;
  s.format = opts.format;
}

std::shared_ptr<spdlog::logger> current_logger() {
  auto& s = global();
  std::lock_guard lock(s.mutex);
  if (!s.logger) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_pattern("%v");
    s.logger = std::make_shared<spdlog::logger>("aegis", std::move(sink));
    s.logger->set_level(spdlog::level::trace);
  }
  return s.logger;
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out.append("\\\"");
      break;
    case '\\':
      out.append("\\\\");
      break;
    case '\n':
      out.append("\\n");
      break;
    case '\r':
      out.append("\\r");
      break;
    case '\t':
      out.append("\\t");
      break;
    default:
      if (c < 0x20 || c == 0x7F) {
        fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
      } else {
        out.push_back(ch);
      }
    }
  }
  out.push_back('"');
}

// Human lines must stay one line each, whatever a peer put into a logged value.
void append_escaped_plain(std::string& out, std::string_view text) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", static_cast<unsigned>(c));
    } else {
      out.push_back(ch);
    }
  }
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", std::string_view(buf, n), millis);
}

} // namespace

void init(const options& opts) {
  install(opts, std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

void init_for_test(const options& opts, std::ostream& out) {
  install(opts, std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true));
}

bool enabled(level lvl) noexcept {
  return lvl != level::off && lvl >= global().min_level.load(std::memory_order_relaxed);
}

void write(level lvl, std::string_view component, std::string_view message,
           std::initializer_list<field> fields) {
  if (!enabled(lvl)) {
    return;
  }
  std::string line;
  line.reserve(128 + message.size());
  if (global().format.load(std::memory_order_relaxed) == output_format::json) {
    line.append("{\"ts\":\"").append(timestamp()).append("\",\"level\":\"");
    line.append(to_string(lvl)).append("\",\"component\":");
    append_json_string(line, component);
    line.append(",\"msg\":");
    append_json_string(line, message);
    for (const auto& f : fields) {
      line.push_back(',');
      append_json_string(line, f.key);
      line.push_back(':');
      append_json_string(line, f.value);
    }
    line.push_back('}');
  } else {
    line.append(timestamp()).push_back(' ');
    line.append(fmt::format("{:<5}", to_string(lvl))).append(" [");
    append_escaped_plain(line, component);
    line.append("] ");
    append_escaped_plain(line, message);
    for (const auto& f : fields) {
      line.push_back(' ');
      append_escaped_plain(line, f.key);
      line.push_back('=');
      append_escaped_plain(line, f.value);
    }
  }
  current_logger()->log(to_spdlog(lvl), "{}", line);
}

void flush() {
  current_logger()->flush();
}

std::string_view to_string(level lvl) noexcept {
  switch (lvl) {
  case level::trace:
    return "trace";
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warn:
    return "warn";
  case level::error:
    return "error";
  case level::critical:
    return "critical";
  case level::off:
    return "off";
  }
  return "unknown";
}

bool parse_level(std::string_view text, level& out) noexcept {
  for (level l : {level::trace, level::debug, level::info, level::warn, level::error,
                  level::critical, level::off}) {
    if (text == to_string(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

} // namespace aegis::log
