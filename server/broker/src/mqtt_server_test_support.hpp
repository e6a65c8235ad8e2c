#pragma once

// Test support for mqtt_server tests: a storage thread (as the storage executor), application
// accounts "app-*", and a blocking MQTT client made of libs/mqtt's codec over plain TCP.

#include "aegis/auth/authenticator.hpp"
#include "aegis/mqtt/codec.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace aegis::broker::testing {

using namespace std::chrono_literals;
using mqtt::protocol_version;

template <class T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("fixture: " + r.error().message());
  }
  return std::move(r).value();
}

// One storage thread, as the composition root's storage executor.
class storage_thread {
public:
  storage_thread() : thread_([this] { run(); }) {}
  ~storage_thread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  storage_thread(const storage_thread&) = delete;
  storage_thread& operator=(const storage_thread&) = delete;

  bool post(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) {
        return false;
      }
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;
      }
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Accounts for the test: user name "app-*" with password "pw" is an application account.
class test_accounts final : public auth::authenticator {
public:
  std::string_view name() const noexcept override { return "test"; }
  auth::auth_decision authenticate(const auth::connect_request& req) override {
    if (!req.username || !req.username->starts_with("app-")) {
      return auth::auth_decision::abstain();
    }
    auth::identity who;
    who.kind = auth::identity_kind::application;
    who.method = auth::auth_method::password;
    who.account = *req.username;
    who.client_id = req.client_id;
    return auth::auth_decision::allow(who);
  }
};

class mqtt_client {
public:
  mqtt_client(std::uint16_t port, protocol_version v)
      : version_(v), decoder_(mqtt::decoder_options{.version = v, .from = mqtt::sender::server}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~mqtt_client() { ::close(fd_); }
  mqtt_client(const mqtt_client&) = delete;
  mqtt_client& operator=(const mqtt_client&) = delete;

  void send(const mqtt::packet& p) {
    bytes out;
    if (!mqtt::encode_to(p, version_, out)) {
      throw std::runtime_error("encode failed");
    }
    if (::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
      throw std::runtime_error("send failed");
    }
  }

  // The next packet, or nothing when the connection closed or `timeout` passed.
  std::optional<mqtt::packet> receive(std::chrono::milliseconds timeout = 5s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      bytes_view view(pending_.data(), pending_.size());
      auto r = decoder_.next(view);
      pending_.erase(pending_.begin(),
                     pending_.begin() + static_cast<std::ptrdiff_t>(pending_.size() - view.size()));
      if (!r) {
        return std::nullopt;
      }
      if (*r) {
        return std::move(**r);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || closed_) {
        return std::nullopt;
      }
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      std::uint8_t buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        continue;
      }
      pending_.insert(pending_.end(), buf, buf + n);
    }
  }

  template <class P>
  std::optional<P> expect(std::chrono::milliseconds timeout = 5s) {
    auto p = receive(timeout);
    if (!p) {
      return std::nullopt;
    }
    if (auto* got = std::get_if<P>(&*p)) {
      return *got;
    }
    ADD_FAILURE() << "unexpected packet type " << p->index();
    return std::nullopt;
  }

  // Whether the server closed the connection (after any packets still to read).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      if (std::chrono::steady_clock::now() >= end) {
        return false;
      }
      (void)receive(50ms);
    }
    return true;
  }

private:
  int fd_ = -1;
  protocol_version version_;
  mqtt::frame_decoder decoder_;
  bytes pending_;
  bool closed_ = false;
};

} // namespace aegis::broker::testing
