// GET /metrics against the real aegisd: operator token required, Prometheus text, and the
// counters move with what happened on the wire (an MQTT device session, a refused password).

#include "device_e2e_fixture.hpp"

#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace aegis::app::testing::e2e;

using namespace std::chrono_literals;

class MetricsE2E : public hub_fixture {
protected:
  // (HTTP status, content type, body) of GET /metrics, with or without the admin token.
  std::tuple<int, std::string, std::string> scrape(bool with_token) {
    std::vector<std::string> argv{"curl", "-sS", "--cacert",
                                  ca_,    "-w",  "\n%{content_type}\n%{http_code}"};
    if (with_token) {
      argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token_});
    }
    argv.push_back("https://localhost:" + https_port_ + "/metrics");
    const auto r = run(argv);
    EXPECT_EQ(r.rc, 0) << r.output;
    const auto last = r.output.rfind('\n');
    const auto before = r.output.rfind('\n', last - 1);
    return {std::atoi(r.output.c_str() + last + 1), r.output.substr(before + 1, last - before - 1),
            r.output.substr(0, before)};
  }
};

TEST_F(MetricsE2E, NeedsAnOperatorTokenAndCountsWhatHappened) {
  EXPECT_EQ(std::get<0>(scrape(false)), 401);

  // One device session, one refused application password.
  const auto pub =
      run(with(device_client("mosquitto_pub", device_path("sensor-1"), device_jwt("sensor-1")),
               {"-t", "/devices/sensor-1/events", "-q", "1", "-m", "m"}));
  EXPECT_EQ(pub.rc, 0) << pub.output;
  auto wrong = backend_client("mosquitto_pub");
  for (auto& arg : wrong) {
    if (arg == backend_password) {
      arg = "not the password";
    }
  }
  const auto refused = run(with(wrong, {"-t", "free/topic", "-m", "x"}));
  EXPECT_NE(refused.rc, 0) << refused.output;

  const auto [status, type, body] = scrape(true);
  ASSERT_EQ(status, 200) << body;
  EXPECT_TRUE(type.starts_with("text/plain; version=0.0.4")) << type;
  EXPECT_TRUE(contains(body, "# TYPE aegis_auth_decisions_total counter")) << body;
  EXPECT_TRUE(contains(body, R"(aegis_auth_decisions_total{transport="mqtt",verdict="allow"})"))
      << body;
  EXPECT_TRUE(contains(
      body,
      R"(aegis_auth_decisions_total{transport="mqtt",verdict="deny",reason="password_mismatch"} 1)"))
      << body;
  EXPECT_TRUE(contains(body, "aegis_mqtt_device_events_total 1")) << body;
  EXPECT_TRUE(contains(body, "aegis_connections_accepted_total ")) << body;
  EXPECT_TRUE(contains(body, "aegis_http_bridge_open_polls 0")) << body;
  EXPECT_TRUE(contains(body, "aegis_mqtt_store_batches_total ")) << body;
}

} // namespace
