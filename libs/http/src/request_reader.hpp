#pragma once

// The sans-I/O core of the HTTP/1.1 server: bytes in, one complete request (or the error status
// that refuses it) out. Wraps Boost.Beast's request_parser (fed with put(), never a stream) and
// adds what Beast leaves to the application: Transfer-Encoding other than "chunked" (501),
// Expect (100-continue or 417), origin-form targets only, percent-decoding of the path and the
// query. No dependency on libs/net, so the fuzz target drives exactly this class.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aegis::http::detail {

struct parsed_request {
  std::string method;
  std::string target;
  std::string path; // decoded, no NUL, no decoded '/'
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;
  unsigned version = 11; // 10 or 11
};

struct reader_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
};

struct read_error {
  unsigned status = 400;
  std::string message;
};

class request_reader {
public:
  enum class event {
    need_more,         // everything buffered was used; feed more
    continue_expected, // the head asked "Expect: 100-continue" and the body has not come yet
    request,           // a complete request: take_request()
    error,             // refuse with error().status and close; the reader stays failed
  };

  explicit request_reader(reader_limits limits);
  ~request_reader();
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  // Appends bytes to the buffer. Nothing is parsed until next().
  void feed(std::string_view data);
  // Parses what is buffered, up to the end of one request. After `request`, the bytes of a
  // pipelined next request stay buffered until next() is called again.
  event next();
  parsed_request take_request();
  const read_error& error() const noexcept { return error_; }

  // Bytes of an unfinished request have been received (the request deadline runs).
  bool in_progress() const noexcept;
  // Bytes received and not yet handed to the parser.
  std::size_t buffered() const noexcept { return buffer_.size(); }
  // Takes those bytes out (after an upgrade they belong to the new protocol).
  std::string take_buffered() noexcept { return std::exchange(buffer_, {}); }

private:
  event fail(unsigned status, std::string message);
  event check_head();
  event finish();

  struct parser_box;
  reader_limits limits_;
  std::string buffer_;
  std::unique_ptr<parser_box> parser_;
  parsed_request ready_;
  read_error error_;
  bool failed_ = false;
  bool head_checked_ = false;
  bool continue_sent_ = false;
  bool started_ = false;            // bytes of the current request were consumed by the parser
  std::size_t leading_skipped_ = 0; // empty-line bytes skipped before the current request
  std::size_t head_bytes_ = 0;      // bytes of the current head consumed by the parser
};

// Percent-decoding. `plus_is_space` for query components. Refuses malformed escapes and %00;
// with `refuse_slash`, also %2F. Returns false on refusal.
bool percent_decode(std::string_view in, bool plus_is_space, bool refuse_slash, std::string& out);

} // namespace aegis::http::detail
