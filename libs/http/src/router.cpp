#include "aegis/http/router.hpp"

#include "aegis/http/json.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace aegis::http {

namespace {

enum class seg_kind { rest = 0, capture = 1, verb = 2, literal = 3 }; // higher ranks first

struct segment {
  seg_kind kind = seg_kind::literal;
  std::string text; // literal text, or the capture name
  std::string verb; // for seg_kind::verb
};

struct route {
  std::string method;
  std::string pattern;
  std::vector<segment> segments;
  route_handler handler;
};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') {
    return out;
  }
  path.remove_prefix(1);
  if (path.empty()) {
    return out; // "/" has no segments
  }
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool valid_name(std::string_view n) {
  if (n.empty()) {
    return false;
  }
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
}

[[noreturn]] void bad_pattern(std::string_view pattern, std::string_view why) {
  throw std::invalid_argument("router: bad pattern \"" + std::string(pattern) +
                              "\": " + std::string(why));
}

std::vector<segment> parse_pattern(std::string_view pattern) {
  std::string_view p = pattern;
  if (!p.empty() && p.front() == '/') {
    p.remove_prefix(1);
  } else if (!p.empty()) {
    // accepted without the leading '/': "devices/{d}"
  } else {
    bad_pattern(pattern, "empty");
  }
  std::vector<segment> out;
  if (p.empty()) {
    return out;
  }
  std::set<std::string, std::less<>> names;
  std::vector<std::string_view> parts;
  for (;;) {
    const auto slash = p.find('/');
    parts.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    p.remove_prefix(slash + 1);
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view s = parts[i];
    const bool last = i + 1 == parts.size();
    if (s.empty()) {
      bad_pattern(pattern, "empty segment");
    }
    segment seg;
    if (s.front() == '{') {
      const auto close = s.find('}');
      if (close == std::string_view::npos) {
        bad_pattern(pattern, "unclosed '{'");
      }
      std::string_view inner = s.substr(1, close - 1);
      const std::string_view after = s.substr(close + 1);
      if (const auto eq = inner.find('='); eq != std::string_view::npos) {
        if (inner.substr(eq + 1) != "**" || !after.empty()) {
          bad_pattern(pattern, "only {name=**} is supported");
        }
        if (!last) {
          bad_pattern(pattern, "{name=**} must be the last segment");
        }
        seg.kind = seg_kind::rest;
        inner = inner.substr(0, eq);
      } else if (!after.empty()) {
        if (after.front() != ':' || after.size() < 2) {
          bad_pattern(pattern, "text after '}' must be ':verb'");
        }
        if (!last) {
          bad_pattern(pattern, "{name}:verb must be the last segment");
        }
        const std::string_view verb = after.substr(1);
        if (verb.find_first_of("{}:") != std::string_view::npos) {
          bad_pattern(pattern, "bad verb");
        }
        seg.kind = seg_kind::verb;
        seg.verb = std::string(verb);
      } else {
        seg.kind = seg_kind::capture;
      }
      if (!valid_name(inner)) {
        bad_pattern(pattern, "bad capture name");
      }
      if (!names.emplace(inner).second) {
        bad_pattern(pattern, "repeated capture name");
      }
      seg.text = std::string(inner);
    } else {
      if (s.find_first_of("{}") != std::string_view::npos) {
        bad_pattern(pattern, "'{' or '}' inside a literal segment");
      }
      seg.kind = seg_kind::literal;
      seg.text = std::string(s);
    }
    out.push_back(std::move(seg));
  }
  return out;
}

// The ranks of the matched segments, or nothing when the route does not match.
bool match(const route& r, const std::vector<std::string_view>& parts, path_params& params,
           std::vector<int>& rank) {
  params.clear();
  rank.clear();
  const auto& segs = r.segments;
  std::size_t i = 0;
  for (; i < segs.size(); ++i) {
    const segment& s = segs[i];
    if (s.kind == seg_kind::rest) {
      if (i >= parts.size()) {
        return false;
      }
      std::string value;
      for (std::size_t k = i; k < parts.size(); ++k) {
        if (parts[k].empty()) {
          return false;
        }
        if (k > i) {
          value += '/';
        }
        value.append(parts[k]);
      }
      params.emplace(s.text, std::move(value));
      rank.push_back(static_cast<int>(seg_kind::rest));
      return true;
    }
    if (i >= parts.size()) {
      return false;
    }
    const std::string_view part = parts[i];
    switch (s.kind) {
    case seg_kind::literal:
      if (part != s.text) {
        return false;
      }
      break;
    case seg_kind::capture:
      if (part.empty()) {
        return false;
      }
      params.emplace(s.text, std::string(part));
      break;
    case seg_kind::verb: {
      const std::size_t suffix = s.verb.size() + 1;
      if (part.size() <= suffix || part[part.size() - suffix] != ':' ||
          part.substr(part.size() - s.verb.size()) != s.verb) {
        return false;
      }
      params.emplace(s.text, std::string(part.substr(0, part.size() - suffix)));
      break;
    }
    case seg_kind::rest:
      break;
    }
    rank.push_back(static_cast<int>(s.kind));
  }
  return i == parts.size();
}

} // namespace

struct router::impl {
  std::vector<route> routes;
};

router::router() : impl_(std::make_unique<impl>()) {}
router::~router() = default;
router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;

router& router::add(std::string_view method, std::string_view pattern, route_handler handler) {
  if (method.empty()) {
    throw std::invalid_argument("router: empty method");
  }
  if (!handler) {
    throw std::invalid_argument("router: empty handler for " + std::string(pattern));
  }
  route r;
  r.method = std::string(method);
  r.pattern = std::string(pattern);
  r.segments = parse_pattern(pattern);
  for (const auto& other : impl_->routes) {
    if (other.method != r.method || other.segments.size() != r.segments.size()) {
      continue;
    }
    const bool same = std::equal(other.segments.begin(), other.segments.end(), r.segments.begin(),
                                 [](const segment& a, const segment& b) {
                                   return a.kind == b.kind &&
                                          (a.kind != seg_kind::literal || a.text == b.text) &&
                                          (a.kind != seg_kind::verb || a.verb == b.verb);
                                 });
    if (same) {
      throw std::invalid_argument("router: " + r.method + " " + std::string(pattern) +
                                  " duplicates " + other.pattern);
    }
  }
  r.handler = std::move(handler);
  impl_->routes.push_back(std::move(r));
  return *this;
}

void router::dispatch(request&& req, responder res) const {
  if (req.path.empty() || req.path.front() != '/' || req.path.find('\0') != std::string::npos) {
    res.send(error_response(rpc_status::invalid_argument, "request path must be absolute"));
    return;
  }
  const auto parts = split_path(req.path);
  const route* best = nullptr;
  path_params best_params;
  std::vector<int> best_rank;
  std::set<std::string> allowed;
  path_params params;
  std::vector<int> rank;
  for (const auto& r : impl_->routes) {
    if (!match(r, parts, params, rank)) {
      continue;
    }
    if (r.method != req.method) {
      allowed.insert(r.method);
      continue;
    }
    if (best == nullptr || std::lexicographical_compare(best_rank.begin(), best_rank.end(),
                                                        rank.begin(), rank.end())) {
      best = &r;
      best_params = params;
      best_rank = rank;
    }
  }
  if (best != nullptr) {
    best->handler(std::move(req), best_params, std::move(res));
    return;
  }
  if (allowed.empty()) {
    res.send(error_response(rpc_status::not_found, "no such resource: " + req.path));
    return;
  }
  std::string allow;
  for (const auto& m : allowed) {
    if (!allow.empty()) {
      allow += ", ";
    }
    allow += m;
  }
  response r = error_response(405u, "method " + req.method + " not allowed on " + req.path);
  r.headers.emplace_back("Allow", std::move(allow));
  res.send(std::move(r));
}

request_handler router::handler() const {
  return [this](request&& req, responder res) { dispatch(std::move(req), std::move(res)); };
}

} // namespace aegis::http
