#include "aegis/bridge/device_bridge.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace aegis::bridge::test {
namespace {

const std::string dev_a = "sensor-001";
const std::string dev_b = "sensor-002";

std::string events_path(const std::string& dev = dev_a, const std::string& reg = "fleet-a") {
  return device_path(reg, dev) + ":publishEvent";
}
std::string state_path(const std::string& dev = dev_a) {
  return device_path("fleet-a", dev) + ":setState";
}
std::string config_path(const std::string& query, const std::string& dev = dev_a) {
  return device_path("fleet-a", dev) + "/config" + query;
}
std::string commands_path(const std::string& query, const std::string& dev = dev_a) {
  return device_path("fleet-a", dev) + "/commands" + query;
}

class DeviceBridge : public ::testing::Test {
protected:
  explicit DeviceBridge(bridge_options options = {}) : world_(options) {
    world_.add_device("fleet-a", dev_a, 0);
    world_.add_device("fleet-a", dev_b, 1);
  }
  bridge_world world_;
};

// --- publishEvent ----------------------------------------------------------------------------

TEST_F(DeviceBridge, PublishEventSnakeCaseReachesSinkAndRegistry) {
  const auto r = world_.call("POST", events_path(),
                             R"({"binary_data":"eyJ0IjogMjEuNX0=","sub_folder":"temperature"})",
                             world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, "{}");
  const auto events = world_.sink().events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].device, registry::to_name(device_key_of("fleet-a", dev_a)));
  EXPECT_EQ(events[0].subfolder, "temperature");
  EXPECT_EQ(as_string_view(events[0].payload), R"({"t": 21.5})");
  world_.executor().drain();
  // Activity is coalesced: written by the timer's flush, not by the request.
  EXPECT_FALSE(must(world_.service().get_device(device_key_of("fleet-a", dev_a)))
                   .activity.last_event_time.has_value());
  world_.bridge().run_timers_for_test();
  world_.executor().drain();
  const auto d = must(world_.service().get_device(device_key_of("fleet-a", dev_a)));
  EXPECT_TRUE(d.activity.last_event_time.has_value());
}

TEST_F(DeviceBridge, ActivityOfManyEventsIsOneWritePerFlushAndSurvivesShutdown) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(world_.call("POST", events_path(), "{}", world_.token()).status, 200u);
  }
  world_.executor().drain();
  world_.bridge().shutdown(); // flushes what is pending before refusing new work
  world_.executor().drain();
  EXPECT_TRUE(must(world_.service().get_device(device_key_of("fleet-a", dev_a)))
                  .activity.last_event_time.has_value());
  EXPECT_EQ(world_.bridge().stats().activity_write_errors, 0u);
}

TEST_F(DeviceBridge, PublishEventCamelCaseAndUrlSafeBase64) {
  const auto r = world_.call("POST", events_path(), R"({"subFolder":"a/b","binaryData":"-_8"})",
                             world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto events = world_.sink().events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].subfolder, "a/b");
  EXPECT_EQ(events[0].payload, (bytes{0xfb, 0xff}));
}

TEST_F(DeviceBridge, PublishEventWithoutSubfolderOrData) {
  const auto r = world_.call("POST", events_path(), "{}", world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(world_.sink().events().size(), 1u);
  EXPECT_TRUE(world_.sink().events()[0].subfolder.empty());
}

TEST_F(DeviceBridge, BadBase64Is400) {
  const auto r = world_.call("POST", events_path(), R"({"binary_data":"12!4"})", world_.token());
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(status_name(r), "INVALID_ARGUMENT");
  EXPECT_TRUE(world_.sink().events().empty());
}

TEST_F(DeviceBridge, MalformedBodiesAre400) {
  for (const char* body : {"not json", "[1,2]", R"({"binary_data":1})",
                           R"({"binary_data":"AA==","binaryData":"AA=="})", R"({"unknown":"x"})",
                           R"({"sub_folder":"../x"})", R"({"sub_folder":"a//b"})",
                           R"({"sub_folder":"a/#"})", "{\"sub_folder\":\"\xff\xfe\"}"}) {
    const auto r = world_.call("POST", events_path(), body, world_.token());
    EXPECT_EQ(r.status, 400u) << body;
    EXPECT_EQ(status_name(r), "INVALID_ARGUMENT") << body;
  }
  EXPECT_TRUE(world_.sink().events().empty());
}

TEST_F(DeviceBridge, OversizeEventIs413) {
  const bytes big(256 * 1024 + 1, 0x41);
  const auto r = world_.call("POST", events_path(),
                             R"({"binary_data":")" + base64_encode(big) + R"("})", world_.token());
  EXPECT_EQ(r.status, 413u);
  EXPECT_TRUE(world_.sink().events().empty());
  const bytes fits(256 * 1024, 0x41);
  EXPECT_EQ(world_
                .call("POST", events_path(), R"({"binary_data":")" + base64_encode(fits) + R"("})",
                      world_.token())
                .status,
            200u);
}

TEST_F(DeviceBridge, UnknownPathIs404) {
  const auto r =
      world_.call("POST", device_path("fleet-a", dev_a) + ":explode", "{}", world_.token());
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(status_name(r), "NOT_FOUND");
}

// --- authentication --------------------------------------------------------------------------

TEST_F(DeviceBridge, MissingTokenIs401WithoutReachingTheExecutor) {
  const auto r = world_.call("POST", events_path(), "{}");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(status_name(r), "UNAUTHENTICATED");
  EXPECT_EQ(header_of(r, "WWW-Authenticate"), "Bearer");
  EXPECT_TRUE(world_.audit().events().empty());
}

TEST_F(DeviceBridge, GarbageTokenIs401) {
  EXPECT_EQ(world_.call("POST", events_path(), "{}", std::string("not.a.jwt")).status, 401u);
}

TEST_F(DeviceBridge, TokenOfDeviceAOnDeviceBPathIs401) {
  // Device B's credential does not verify device A's token: nothing tells which check failed.
  const auto r = world_.call("POST", events_path(dev_b), "{}", world_.token(0));
  EXPECT_EQ(r.status, 401u);
  const auto j = body_json(r);
  EXPECT_EQ(j["error"]["message"], "Request had invalid authentication credentials.");
  EXPECT_TRUE(world_.sink().events().empty());
}

TEST_F(DeviceBridge, ExpiredTokenIs401) {
  const auto token = world_.token(0, 1h, 2h); // expired an hour ago, beyond the 10 min skew
  EXPECT_EQ(world_.call("POST", events_path(), "{}", token).status, 401u);
  EXPECT_EQ(world_.call("GET", config_path("?local_version=0"), {}, token).status, 401u);
}

TEST_F(DeviceBridge, UnknownDeviceIs401LikeABadToken) {
  EXPECT_EQ(world_.call("POST", events_path("ghost-9"), "{}", world_.token()).status, 401u);
}

TEST_F(DeviceBridge, MalformedDevicePathIs400) {
  EXPECT_EQ(world_.call("POST", events_path("9starts-with-digit"), "{}", world_.token()).status,
            400u);
  EXPECT_EQ(world_.call("POST", events_path("sensor-001", "f"), "{}", world_.token()).status, 400u);
}

TEST_F(DeviceBridge, NumericDeviceIdsNameTheDevice) {
  const auto d = must(world_.service().get_device(device_key_of("fleet-a", dev_a)));
  const auto numeric = std::to_string(d.num_id.value());
  auto r = world_.call("POST", events_path(numeric), R"({"binary_data":"aGk="})", world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(world_.sink().events().size(), 1u);
  EXPECT_EQ(world_.sink().events()[0].device, registry::to_name(d.key));
  // Polls by number and by name are the same device's.
  auto poll = world_.send("GET", commands_path("?wait=60", numeric), {}, world_.token());
  world_.executor().drain();
  EXPECT_TRUE(world_.bridge().deliver_command(d.key, "", to_bytes("x")));
  ASSERT_TRUE(poll->wait());
  EXPECT_EQ(poll->wait()->status, 200u);
  // Another device's number with this device's token, and an unknown number: 401.
  const auto other = must(world_.service().get_device(device_key_of("fleet-a", dev_b)));
  EXPECT_EQ(
      world_.call("POST", events_path(std::to_string(other.num_id.value())), "{}", world_.token(0))
          .status,
      401u);
  EXPECT_EQ(world_.call("POST", events_path("12345"), "{}", world_.token()).status, 401u);
}

TEST_F(DeviceBridge, BlockedDeviceIs403) {
  registry::device_update u;
  u.blocked = true;
  must(world_.service().update_device(device_key_of("fleet-a", dev_a), u));
  const auto r = world_.call("POST", events_path(), "{}", world_.token());
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(status_name(r), "PERMISSION_DENIED");
}

TEST_F(DeviceBridge, HttpDisabledRegistryIs403) {
  world_.add_device("fleet-b", "sensor-100", 0);
  const auto r = world_.call("POST", events_path("sensor-100", "fleet-b"), "{}", world_.token());
  EXPECT_EQ(r.status, 403u);
}

// --- gateways acting for bound devices (reference §2.3) ---------------------------------------

class DeviceBridgeGateway : public DeviceBridge {
protected:
  DeviceBridgeGateway() {
    world_.add_device("fleet-a", "sensor-003", 0);
    world_.add_gateway("fleet-a", "gw-7", 1, {dev_a});
  }
  const registry::device_key leaf = device_key_of("fleet-a", dev_a);
  const registry::device_key gw = device_key_of("fleet-a", "gw-7");
};

TEST_F(DeviceBridgeGateway, PublishesForABoundDeviceWithItsOwnToken) {
  const auto r = world_.call("POST", events_path("gw-7"),
                             R"({"gatewayInfo":{"delegatedDeviceId":"sensor-001"},)"
                             R"("binaryData":"aGk=","subFolder":"t"})",
                             world_.token(1));
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(world_.sink().events().size(), 1u);
  EXPECT_EQ(world_.sink().events()[0].device, registry::to_name(leaf));
  EXPECT_EQ(world_.sink().events()[0].subfolder, "t");
  const auto d = must(world_.service().get_device(leaf));
  EXPECT_EQ(d.activity.last_accessed_gateway_id, "gw-7");
  // State for the bound device too.
  EXPECT_EQ(world_
                .call("POST", device_path("fleet-a", "gw-7") + ":setState",
                      R"({"gateway_info":{"delegated_device_id":"sensor-001"},)"
                      R"("state":{"binary_data":"b2s="}})",
                      world_.token(1))
                .status,
            200u);
  EXPECT_EQ(must(world_.service().list_states(leaf)).size(), 1u);
}

TEST_F(DeviceBridgeGateway, RefusesUnboundUnknownAndNonGateways) {
  for (const char* target : {"sensor-003", "ghost-9", "gw-7"}) {
    const auto r =
        world_.call("POST", events_path("gw-7"),
                    std::string(R"({"gatewayInfo":{"delegatedDeviceId":")") + target + R"("}})",
                    world_.token(1));
    EXPECT_EQ(r.status, 403u) << target;
  }
  // A plain device cannot delegate, even to a device bound to some gateway.
  EXPECT_EQ(world_
                .call("POST", events_path("sensor-003"),
                      R"({"gatewayInfo":{"delegatedDeviceId":"sensor-001"}})", world_.token(0))
                .status,
            403u);
  // The gateway's token on the bound device's own path: not the device's credential.
  EXPECT_EQ(world_.call("POST", events_path(dev_a), "{}", world_.token(1)).status, 401u);
  EXPECT_TRUE(world_.sink().events().empty());
}

TEST_F(DeviceBridgeGateway, PollsForABoundDeviceAndLosesThemWhenUnbound) {
  auto cfg = world_.send(
      "GET",
      config_path("?local_version=1&wait=60&gatewayInfo.delegatedDeviceId=sensor-001", "gw-7"), {},
      world_.token(1));
  auto cmd =
      world_.send("GET", commands_path("?wait=60&gatewayInfo.delegatedDeviceId=sensor-001", "gw-7"),
                  {}, world_.token(1));
  world_.executor().drain();
  ASSERT_FALSE(cfg->answered());
  ASSERT_FALSE(cmd->answered());
  // Commands and config for the bound device reach the gateway's polls.
  EXPECT_TRUE(world_.bridge().deliver_command(leaf, "", to_bytes("go")));
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cmd->wait()->status, 200u);
  EXPECT_FALSE(world_.bridge().deliver_command(gw, "", to_bytes("not the gateway's")));

  auto again =
      world_.send("GET", commands_path("?wait=60&gatewayInfo.delegatedDeviceId=sensor-001", "gw-7"),
                  {}, world_.token(1));
  world_.executor().drain();
  must(world_.service().unbind_device_from_gateway(
      registry_key_of("fleet-a"), registry::device_id("gw-7"), registry::device_id(dev_a)));
  world_.bridge().device_changed(gw);
  ASSERT_TRUE(cfg->wait());
  EXPECT_EQ(cfg->wait()->status, 403u);
  ASSERT_TRUE(again->wait());
  EXPECT_EQ(again->wait()->status, 403u);
}

TEST_F(DeviceBridge, ExecutorFullIs503) {
  bridge_world small({}, 1);
  small.add_device("fleet-a", dev_a, 0);
  small.executor().block(); // its one slot is free again, the thread is busy
  auto first = small.send("POST", events_path(), "{}", small.token());
  auto second = small.send("POST", events_path(), "{}", small.token());
  const auto r = second->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503u);
  EXPECT_TRUE(header_of(*r, "Retry-After"));
  small.executor().release();
  ASSERT_TRUE(first->wait());
  EXPECT_EQ(first->wait()->status, 200u);
  EXPECT_EQ(small.bridge().stats().executor_refusals, 1u);
}

// --- rates -----------------------------------------------------------------------------------

class DeviceBridgeRates : public DeviceBridge {
protected:
  static bridge_options options() {
    bridge_options o;
    o.requests_per_second = 2;
    return o;
  }
  DeviceBridgeRates() : DeviceBridge(options()) {}
};

TEST_F(DeviceBridgeRates, EventsOverTheBucketAre429WithRetryAfter) {
  const auto token = world_.token();
  EXPECT_EQ(world_.call("POST", events_path(), "{}", token).status, 200u);
  EXPECT_EQ(world_.call("POST", events_path(), "{}", token).status, 200u);
  const auto r = world_.call("POST", events_path(), "{}", token);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(status_name(r), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(header_of(r, "Retry-After"), "1");
  // Another device has its own bucket.
  EXPECT_EQ(world_.call("POST", events_path(dev_b), "{}", world_.token(1)).status, 200u);
  world_.clock().advance(1s);
  EXPECT_EQ(world_.call("POST", events_path(), "{}", token).status, 200u);
}

// --- setState --------------------------------------------------------------------------------

TEST_F(DeviceBridge, SetStateStoresAndPublishesOncePerSecond) {
  const auto token = world_.token();
  auto r = world_.call("POST", state_path(), R"({"state":{"binary_data":"b2s="}})", token);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, "{}");
  const auto states = must(world_.service().list_states(device_key_of("fleet-a", dev_a)));
  ASSERT_EQ(states.size(), 1u);
  EXPECT_EQ(as_string_view(states[0].data), "ok");
  ASSERT_EQ(world_.sink().states().size(), 1u);
  EXPECT_EQ(as_string_view(world_.sink().states()[0].payload), "ok");

  r = world_.call("POST", state_path(), R"({"state":{"binaryData":"b2s="}})", token);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(header_of(r, "Retry-After"), "1");
  world_.clock().advance(1s);
  EXPECT_EQ(world_.call("POST", state_path(), R"({"state":{"binaryData":"b2s="}})", token).status,
            200u);
  EXPECT_EQ(world_.sink().states().size(), 2u);
}

TEST_F(DeviceBridge, SetStateRequiresStateAndLimitsItsSize) {
  EXPECT_EQ(world_.call("POST", state_path(), "{}", world_.token()).status, 400u);
  EXPECT_EQ(world_.call("POST", state_path(), R"({"state":"b2s="})", world_.token()).status, 400u);
  const bytes big(64 * 1024 + 1, 0x41);
  EXPECT_EQ(world_
                .call("POST", state_path(),
                      R"({"state":{"binary_data":")" + base64_encode(big) + R"("}})",
                      world_.token())
                .status,
            413u);
  EXPECT_TRUE(world_.sink().states().empty());
}

// --- getConfig -------------------------------------------------------------------------------

TEST_F(DeviceBridge, GetConfigReturnsTheCurrentVersion) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto r = world_.call("GET", config_path("?local_version=0"), {}, world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(body_json(r)["version"], "1");
  EXPECT_EQ(body_json(r)["binaryData"], "");

  must(world_.service().modify_config(key, to_bytes("hello")));
  r = world_.call("GET", config_path("?localVersion=1"), {}, world_.token());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(body_json(r)["version"], "2");
  EXPECT_EQ(body_json(r)["binaryData"], base64_encode(to_bytes("hello")));
  EXPECT_TRUE(body_json(r).contains("cloudUpdateTime"));

  // Already current, no wait: the current version again.
  r = world_.call("GET", config_path("?local_version=2"), {}, world_.token());
  EXPECT_EQ(body_json(r)["version"], "2");
  world_.executor().drain();
  world_.bridge().run_timers_for_test();
  world_.executor().drain();
  EXPECT_TRUE(must(world_.service().get_device(key)).activity.last_config_send_time);
}

TEST_F(DeviceBridge, GetConfigAboveTheLatestIsOutOfRange) {
  const auto r = world_.call("GET", config_path("?local_version=99"), {}, world_.token());
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(status_name(r), "OUT_OF_RANGE");
  EXPECT_EQ(world_.call("GET", config_path("?local_version=-1"), {}, world_.token()).status, 400u);
  EXPECT_EQ(world_.call("GET", config_path("?local_version=1&wait=x"), {}, world_.token()).status,
            400u);
}

TEST_F(DeviceBridge, ConfigLongPollIsAnsweredByConfigChanged) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto box = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  world_.executor().drain();
  EXPECT_FALSE(box->answered());
  EXPECT_EQ(world_.bridge().stats().open_polls, 1u);

  const auto v2 = must(world_.service().modify_config(key, to_bytes("new")));
  world_.bridge().config_changed(key, v2);
  const auto r = box->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(body_json(*r)["version"], "2");
  EXPECT_EQ(body_json(*r)["binaryData"], base64_encode(to_bytes("new")));
  EXPECT_EQ(world_.bridge().stats().open_polls, 0u);
}

TEST_F(DeviceBridge, ConfigLongPollIgnoresOtherDevicesAndOlderVersions) {
  auto box = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  world_.executor().drain();
  const auto other = must(world_.service().modify_config(device_key_of("fleet-a", dev_b), {}));
  world_.bridge().config_changed(device_key_of("fleet-a", dev_b), other);
  registry::config_version same;
  same.version = 1;
  world_.bridge().config_changed(device_key_of("fleet-a", dev_a), same);
  world_.executor().drain();
  EXPECT_FALSE(box->answered());
}

TEST_F(DeviceBridge, ConfigLongPollTimesOutWithTheCurrentVersion) {
  auto box = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  world_.executor().drain();
  world_.clock().advance(59s);
  world_.bridge().run_timers_for_test();
  world_.executor().drain();
  EXPECT_FALSE(box->answered());
  world_.clock().advance(1s);
  world_.bridge().run_timers_for_test();
  const auto r = box->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(body_json(*r)["version"], "1");
}

TEST_F(DeviceBridge, ConfigWaitIsClampedToMaxWait) {
  auto box = world_.send("GET", config_path("?local_version=1&wait=100000"), {}, world_.token());
  world_.executor().drain();
  world_.clock().advance(300s);
  world_.bridge().run_timers_for_test();
  ASSERT_TRUE(box->wait());
  EXPECT_EQ(box->wait()->status, 200u);
}

TEST_F(DeviceBridge, ConfigChangedBetweenReadAndHoldIsNotLost) {
  // The change is committed before the poll arrives: the read sees it, no wait.
  must(world_.service().modify_config(device_key_of("fleet-a", dev_a), to_bytes("x")));
  const auto r = world_.call("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  EXPECT_EQ(body_json(r)["version"], "2");
}

// --- commands --------------------------------------------------------------------------------

TEST_F(DeviceBridge, CommandsPollIsAnsweredByDeliverCommand) {
  const auto key = device_key_of("fleet-a", dev_a);
  EXPECT_FALSE(world_.bridge().deliver_command(key, "", to_bytes("too early")));
  auto box = world_.send("GET", commands_path("?wait=60"), {}, world_.token());
  world_.executor().drain();
  EXPECT_FALSE(box->answered());
  EXPECT_FALSE(world_.bridge().deliver_command(device_key_of("fleet-a", dev_b), "", {}));
  EXPECT_TRUE(world_.bridge().deliver_command(key, "reboot/now", to_bytes("go")));
  const auto r = box->wait();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200u);
  const auto j = body_json(*r);
  ASSERT_EQ(j["commands"].size(), 1u);
  EXPECT_EQ(j["commands"][0]["subFolder"], "reboot/now");
  EXPECT_EQ(j["commands"][0]["binaryData"], base64_encode(to_bytes("go")));
}

TEST_F(DeviceBridge, CommandsPollTimesOutWith204) {
  auto box = world_.send("GET", commands_path("?wait=30"), {}, world_.token());
  world_.executor().drain();
  world_.clock().advance(30s);
  world_.bridge().run_timers_for_test();
  const auto r = box->wait();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204u);
}

TEST_F(DeviceBridge, CommandsWithinTheGraceWaitForTheNextPoll) {
  const auto key = device_key_of("fleet-a", dev_a);
  const auto token = world_.token();
  // A poll without wait answers at once and starts the grace.
  EXPECT_EQ(world_.call("GET", commands_path(""), {}, token).status, 204u);
  world_.clock().advance(10s);
  EXPECT_TRUE(world_.bridge().deliver_command(key, "a", to_bytes("1")));
  EXPECT_TRUE(world_.bridge().deliver_command(key, "", to_bytes("2")));
  const auto r = world_.call("GET", commands_path("?wait=60"), {}, token);
  ASSERT_EQ(r.status, 200u);
  const auto j = body_json(r);
  ASSERT_EQ(j["commands"].size(), 2u);
  EXPECT_EQ(j["commands"][0]["subFolder"], "a");
  EXPECT_FALSE(j["commands"][1].contains("subFolder"));
  EXPECT_EQ(j["commands"][1]["binaryData"], base64_encode(to_bytes("2")));
}

TEST_F(DeviceBridge, DeliverCommandIsFalseOnceTheGracePassed) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto box = world_.send("GET", commands_path("?wait=5"), {}, world_.token());
  world_.executor().drain();
  world_.clock().advance(5s);
  world_.bridge().run_timers_for_test();
  ASSERT_TRUE(box->wait());
  world_.clock().advance(29s);
  EXPECT_TRUE(world_.bridge().deliver_command(key, "", to_bytes("kept")));
  world_.clock().advance(1s);
  EXPECT_FALSE(world_.bridge().deliver_command(key, "", to_bytes("late")));
  // The kept one expired with the grace.
  world_.bridge().run_timers_for_test();
  EXPECT_EQ(world_.bridge().stats().commands_dropped, 1u);
  EXPECT_EQ(world_.call("GET", commands_path(""), {}, world_.token()).status, 204u);
}

TEST_F(DeviceBridge, PendingCommandsAreBounded) {
  const auto key = device_key_of("fleet-a", dev_a);
  EXPECT_EQ(world_.call("GET", commands_path(""), {}, world_.token()).status, 204u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(world_.bridge().deliver_command(key, "", to_bytes("c")));
  }
  EXPECT_FALSE(world_.bridge().deliver_command(key, "", to_bytes("ninth")));
}

TEST_F(DeviceBridge, AConfigPollDoesNotSubscribeToCommands) {
  auto box = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  world_.executor().drain();
  EXPECT_FALSE(world_.bridge().deliver_command(device_key_of("fleet-a", dev_a), "", {}));
}

// --- poll limits and lifecycle ---------------------------------------------------------------

TEST_F(DeviceBridge, ThirdOpenPollIs429) {
  const auto token = world_.token();
  auto one = world_.send("GET", config_path("?local_version=1&wait=60"), {}, token);
  auto two = world_.send("GET", commands_path("?wait=60"), {}, token);
  const auto r = world_.call("GET", commands_path("?wait=60"), {}, token);
  EXPECT_EQ(r.status, 429u);
  EXPECT_TRUE(header_of(r, "Retry-After"));
  EXPECT_FALSE(one->answered());
  EXPECT_FALSE(two->answered());
  // Another device is not affected.
  auto other = world_.send("GET", commands_path("?wait=60", dev_b), {}, world_.token(1));
  world_.executor().drain();
  EXPECT_FALSE(other->answered());
  EXPECT_EQ(world_.bridge().stats().open_polls, 3u);
}

TEST_F(DeviceBridge, DeviceChangedAnswersOpenPollsOfABlockedDevice) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto cfg = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  auto cmd = world_.send("GET", commands_path("?wait=60"), {}, world_.token());
  auto other = world_.send("GET", commands_path("?wait=60", dev_b), {}, world_.token(1));
  world_.executor().drain();

  // A change that does not matter keeps them open.
  world_.bridge().device_changed(key);
  world_.executor().drain();
  EXPECT_FALSE(cfg->answered());

  registry::device_update u;
  u.blocked = true;
  must(world_.service().update_device(key, u));
  world_.bridge().device_changed(key);
  ASSERT_TRUE(cfg->wait());
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cfg->wait()->status, 403u);
  EXPECT_EQ(cmd->wait()->status, 403u);
  world_.executor().drain();
  EXPECT_FALSE(other->answered());
}

TEST_F(DeviceBridge, DeviceChangedAnswers401WhenTheDeviceIsDeleted) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto cmd = world_.send("GET", commands_path("?wait=60"), {}, world_.token());
  world_.executor().drain();
  must(world_.service().delete_device(key));
  world_.bridge().device_changed(key);
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cmd->wait()->status, 401u);
}

TEST_F(DeviceBridge, DeviceChangedAnswers401WhenTheCredentialIsReplaced) {
  const auto key = device_key_of("fleet-a", dev_a);
  auto cmd = world_.send("GET", commands_path("?wait=60"), {}, world_.token(0));
  world_.executor().drain();
  registry::device_update u;
  u.credentials = std::vector<registry::credential>{
      {registry::credential_format::es256_pem, must(device_key_pair(1).public_part().to_pem()),
       std::nullopt}};
  must(world_.service().update_device(key, u));
  world_.bridge().device_changed(key);
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cmd->wait()->status, 401u);
}

TEST_F(DeviceBridge, PollsEndWithTheToken) {
  // A token that expired 8 minutes ago is still accepted (10 min skew), for 2 more minutes:
  // it cannot hold a poll for longer than that.
  auto box = world_.send("GET", commands_path("?wait=300"), {}, world_.token(0, 1h, 68min));
  world_.executor().drain();
  world_.clock().advance(1min);
  world_.bridge().run_timers_for_test();
  world_.executor().drain();
  EXPECT_FALSE(box->answered());
  world_.clock().advance(1min);
  world_.bridge().run_timers_for_test();
  ASSERT_TRUE(box->wait());
  EXPECT_EQ(box->wait()->status, 204u);
}

TEST_F(DeviceBridge, ShutdownAnswersOpenPollsAndRefusesNewRequests) {
  auto cfg = world_.send("GET", config_path("?local_version=1&wait=60"), {}, world_.token());
  auto cmd = world_.send("GET", commands_path("?wait=60"), {}, world_.token());
  world_.executor().drain();
  world_.bridge().shutdown();
  ASSERT_TRUE(cfg->wait());
  EXPECT_EQ(cfg->wait()->status, 503u);
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cmd->wait()->status, 503u);
  EXPECT_EQ(world_.call("POST", events_path(), "{}", world_.token()).status, 503u);
  EXPECT_FALSE(world_.bridge().deliver_command(device_key_of("fleet-a", dev_a), "", {}));
  world_.bridge().shutdown(); // idempotent
}

TEST_F(DeviceBridge, DestructionAnswersOpenPolls) {
  auto cmd = world_.send("GET", commands_path("?wait=60"), {}, world_.token());
  world_.executor().drain();
  world_.destroy_bridge();
  ASSERT_TRUE(cmd->wait());
  EXPECT_EQ(cmd->wait()->status, 503u);
  // The routes outlive the bridge and refuse.
  EXPECT_EQ(world_.call("POST", events_path(), "{}", world_.token()).status, 503u);
}

TEST_F(DeviceBridge, TimerThreadAnswersRealDeadlines) {
  // With the manual clock still, the timer thread wakes at least every sweep interval and
  // notices the clock moved.
  auto box = world_.send("GET", commands_path("?wait=1"), {}, world_.token());
  world_.executor().drain();
  world_.clock().advance(1s);
  const auto r = box->wait(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204u);
}

} // namespace
} // namespace aegis::bridge::test
