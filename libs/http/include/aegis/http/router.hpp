#pragma once

// Maps (method, path) to a handler. Patterns are '/'-separated segments:
//   "literal"        matches itself
//   "{name}"         one non-empty segment, captured
//   "{name}:verb"    a last segment "<value>:verb" (Google's custom-method syntax, e.g.
//                    devices/{device}:sendCommandToDevice); the value is captured
//   "{name=**}"      the rest of the path (one or more segments), captured, last only
// A segment value is captured as decoded by server.hpp; values holding '/' cannot occur because
// the path is split after decoding only at literal '/' (an encoded %2F stays inside a segment
// and is refused with 400, so ids never smuggle path separators).
//
// Unknown path: 404; known path, other method: 405 with Allow. Both in the JSON error shape.
// Longest literal match wins: "devices/{d}:verb" before "devices/{d}".

#include "aegis/http/server.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace aegis::http {

using path_params = std::map<std::string, std::string, std::less<>>;

using route_handler = std::function<void(request&&, const path_params&, responder)>;

class router {
public:
  router();
  ~router();
  router(router&&) noexcept;
  router& operator=(router&&) noexcept;

  // Throws std::invalid_argument for a malformed pattern (a programming error, at start-up).
  router& add(std::string_view method, std::string_view pattern, route_handler handler);

  // Dispatches, or answers 404/405/400 itself.
  void dispatch(request&& req, responder res) const;

  // A request_handler that dispatches through this router (which must outlive it).
  request_handler handler() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace aegis::http
