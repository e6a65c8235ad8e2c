// A device on MQTT.js with a JWT from `jose`, written as Google Cloud IoT Core's Node.js MQTT
// sample (cloudiot_mqtt_example_nodejs.js) wrote it, and an application account on MQTT 5 that
// receives its telemetry. Driven by server/app/src/device_interop_e2e_test.cpp.
//
//   node mqtt-device.mjs <port> <ca.pem> <project> <location> <registry> <device> <key.pem>
//                        <app user> <app password> <payload>
//
// The application subscribes to the registry's events first; then the device connects
// (3.1.1, client id = device path, password = ES256 JWT), subscribes to its config (QoS 1) and
// publishes <payload> to /devices/{d}/events/interop/node at QoS 1. Prints one JSON line per
// event: {"event": "config"|"puback"|"app", ...}; exit 0 once the config, the PUBACK and the
// application's message were all seen, 1 on an error, 3 after 30 s.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';

const args = process.argv.slice(2);
if (args.length !== 10) {
  console.error('usage: mqtt-device.mjs <port> <ca> <project> <location> <registry> <device> ' +
                '<key> <app user> <app password> <payload>');
  process.exit(2);
}
const [port, caFile, project, location, registry, deviceId, keyFile, appUser, appPassword,
       payload] = args;
const ca = readFileSync(caFile);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (what, err) => {
  say({ event: 'error', what, message: String(err?.message ?? err) });
  process.exit(1);
};
setTimeout(() => {
  say({ event: 'deadline' });
  process.exit(3);
}, 30000).unref();

// The sample's createJwt, with jose instead of jsonwebtoken.
async function createJwt(projectId, privateKeyFile) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + 20 * 60)
    .setAudience(projectId)
    .sign(createPrivateKey(readFileSync(privateKeyFile)));
}

const registryPath = `projects/${project}/locations/${location}/registries/${registry}`;
const seen = { config: false, puback: false, app: false };
let app;
let device;
const check = () => {
  if (seen.config && seen.puback && seen.app) {
    device.end(true);
    app.end(true);
    process.exit(0);
  }
};

app = mqtt.connect(`mqtts://localhost:${port}`, {
  protocolVersion: 5,
  username: appUser,
  password: appPassword,
  ca,
  reconnectPeriod: 0,
  clientId: `node-app-${process.pid}`,
});
app.on('error', (err) => fail('app', err));
app.on('message', (topic, message, packet) => {
  say({
    event: 'app',
    topic,
    payload: message.toString(),
    qos: packet.qos,
    userProperties: packet.properties?.userProperties ?? {},
  });
  if (message.toString() === payload) {
    seen.app = true;
    check();
  }
});
app.on('connect', () => {
  app.subscribe(`${registryPath}/devices/+/events/#`, { qos: 1 }, async (err, granted) => {
    if (err) return fail('app subscribe', err);
    say({ event: 'app-suback', granted: granted.map((g) => g.qos) });
    startDevice(await createJwt(project, keyFile));
  });
});

function startDevice(jwt) {
  const deviceTopic = `/devices/${deviceId}`;
  device = mqtt.connect(`mqtts://localhost:${port}`, {
    clientId: `${registryPath}/devices/${deviceId}`,
    username: 'unused',
    password: jwt,
    protocolVersion: 4,
    ca,
    reconnectPeriod: 0,
    clean: true,
  });
  device.on('error', (err) => fail('device', err));
  device.on('close', () => say({ event: 'device-close' }));
  device.on('message', (topic, message) => {
    say({ event: 'config', topic, payload: message.toString() });
    if (topic === `${deviceTopic}/config`) {
      seen.config = true;
      check();
    }
  });
  device.on('connect', () => {
    device.subscribe(`${deviceTopic}/config`, { qos: 1 }, (err, granted) => {
      if (err) return fail('device subscribe', err);
      say({ event: 'device-suback', granted: granted.map((g) => g.qos) });
      device.publish(`${deviceTopic}/events/interop/node`, payload, { qos: 1 }, (perr) => {
        if (perr) return fail('device publish', perr);
        say({ event: 'puback' });
        seen.puback = true;
        check();
      });
    });
  });
}
