#include "aegis/admin/metrics_text.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace aegis::admin {

namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) {
      return false;
    }
  }
  return true;
}

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

} // namespace

void metrics_text::family(std::string_view name, metric_type type, std::string_view help) {
  if (!valid_name(name)) {
    throw std::invalid_argument("metrics_text: invalid metric name");
  }
  current_.assign(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += type == metric_type::counter ? " counter\n" : " gauge\n";
}

void metrics_text::begin_sample(std::initializer_list<label> labels) {
  if (current_.empty()) {
    throw std::logic_error("metrics_text: sample before family");
  }
  out_ += current_;
  if (labels.size() != 0) {
    out_ += '{';
    bool first = true;
    for (const auto& [key, value] : labels) {
      if (!valid_name(key)) {
        throw std::invalid_argument("metrics_text: invalid label name");
      }
      if (!first) {
        out_ += ',';
      }
      first = false;
      out_ += key;
      out_ += "=\"";
      append_escaped(out_, value, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void metrics_text::sample(std::uint64_t value, std::initializer_list<label> labels) {
  begin_sample(labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void metrics_text::sample(double value, std::initializer_list<label> labels) {
  begin_sample(labels);
  if (std::isnan(value)) {
    out_ += "NaN\n";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? "+Inf\n" : "-Inf\n";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, r.ptr);
    out_ += '\n';
  }
}

void metrics_text::counter(std::string_view name, std::string_view help, std::uint64_t value) {
  family(name, metric_type::counter, help);
  sample(value);
}

void metrics_text::gauge(std::string_view name, std::string_view help, std::uint64_t value) {
  family(name, metric_type::gauge, help);
  sample(value);
}

} // namespace aegis::admin
