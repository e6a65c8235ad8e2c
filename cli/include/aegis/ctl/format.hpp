#pragma once

// Human output: aligned tables and the one-line error format.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace aegis::ctl {

// Control characters (terminal escapes from server data) become '?'.
std::string sanitize(std::string_view s);

// Columns separated by two spaces, header first, no trailing blanks, one '\n' per line.
std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);

// Key/value lines ("name:  value") for a single resource.
std::string format_fields(const std::vector<std::pair<std::string, std::string>>& fields);

// "aegisctl: <status>: <message>" on one line; every occurrence of `secret` (when non-empty)
// is replaced with "<redacted>".
std::string error_line(std::string_view status, std::string_view message,
                       std::string_view secret = {});

// `text` with every occurrence of `secret` (when non-empty) replaced by "<redacted>".
std::string redact(std::string text, std::string_view secret);

// A JSON value as table text: strings unquoted, null/absent empty, others dumped.
std::string cell(const nlohmann::json& obj, std::string_view key);

} // namespace aegis::ctl
