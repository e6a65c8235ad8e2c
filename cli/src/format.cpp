#include "aegis/ctl/format.hpp"

#include <algorithm>

namespace aegis::ctl {

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : ch);
  }
  return out;
}

namespace {

// Display width: UTF-8 continuation bytes take no column.
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

void append_row(std::string& out, const std::vector<std::string>& cells,
                const std::vector<std::size_t>& widths) {
  std::string line;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    const std::string text = i < cells.size() ? sanitize(cells[i]) : std::string();
    if (i > 0) {
      line += "  ";
    }
    line += text;
    if (i + 1 < widths.size()) {
      line.append(widths[i] - std::min(widths[i], width(text)), ' ');
    }
  }
  while (!line.empty() && line.back() == ' ') {
    line.pop_back();
  }
  out += line;
  out += '\n';
}

} // namespace

std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size(), 0);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    widths[i] = width(headers[i]);
  }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < widths.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], width(sanitize(row[i])));
    }
  }
  std::string out;
  append_row(out, headers, widths);
  for (const auto& row : rows) {
    append_row(out, row, widths);
  }
  return out;
}

std::string format_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t w = 0;
  for (const auto& [k, v] : fields) {
    w = std::max(w, width(k) + 1);
  }
  std::string out;
  for (const auto& [k, v] : fields) {
    std::string line = k + ":";
    line.append(w - width(line) + 2, ' ');
    line += sanitize(v);
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line + "\n";
  }
  return out;
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) {
    return text;
  }
  constexpr std::string_view mark = "<redacted>";
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), mark);
    pos += mark.size();
  }
  return text;
}

std::string error_line(std::string_view status, std::string_view message, std::string_view secret) {
  return sanitize(redact("aegisctl: " + std::string(status) + ": " + std::string(message), secret));
}

std::string cell(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) {
    return {};
  }
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return {};
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  return it->dump();
}

} // namespace aegis::ctl
