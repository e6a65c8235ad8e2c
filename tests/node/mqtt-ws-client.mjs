// One MQTT.js client over secure WebSocket (wss://host:port/mqtt, sub-protocol "mqtt"), with
// the server's CA verified. Driven by server/app/src/websocket_e2e_test.cpp.
//
//   node mqtt-ws-client.mjs --url wss://localhost:PORT/mqtt --ca CA.pem [--version 4|5]
//        [--client-id ID] [--username U] [--password P] [--cert PEM --key PEM]
//        [--subscribe FILTER [--count N]] [--publish TOPIC --message TEXT] [--repeat-ms MS]
//
// Connects, subscribes (QoS 1) when asked and prints {"event":"subscribed"}, then publishes
// (QoS 1) when asked; with --repeat-ms it publishes again every MS until it exits. Prints one
// JSON line per event: connect, subscribed, puback, message {topic, payload}, error, close.
// Exits 0 once everything asked was seen (the CONNACK; the SUBACK and N messages; one PUBACK),
// 1 on an error or a refused connection, 3 after 30 s.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    ca: { type: 'string' },
    version: { type: 'string', default: '4' },
    'client-id': { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    subscribe: { type: 'string' },
    count: { type: 'string', default: '1' },
    publish: { type: 'string' },
    message: { type: 'string', default: '' },
    'repeat-ms': { type: 'string' },
  },
});
if (!opt.url || !opt.ca) {
  console.error('usage: mqtt-ws-client.mjs --url wss://... --ca CA.pem [options]');
  process.exit(2);
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
setTimeout(() => {
  say({ event: 'deadline' });
  process.exit(3);
}, 30000).unref();

const wanted = Number(opt.count);
const seen = { connect: false, subscribed: !opt.subscribe, messages: 0, puback: !opt.publish };
const done = () =>
  seen.connect && seen.subscribed && seen.puback && (!opt.subscribe || seen.messages >= wanted);

const options = {
  ca: readFileSync(opt.ca),
  rejectUnauthorized: true,
  protocolVersion: Number(opt.version),
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: 15000,
};
if (opt['client-id'] !== undefined) options.clientId = opt['client-id'];
if (opt.username !== undefined) options.username = opt.username;
if (opt.password !== undefined) options.password = opt.password;
if (opt.cert) options.cert = readFileSync(opt.cert);
if (opt.key) options.key = readFileSync(opt.key);

const client = mqtt.connect(opt.url, options);
const finish = () => {
  if (done()) {
    client.end(false, () => process.exit(0));
  }
};
const publish = () => {
  client.publish(opt.publish, opt.message, { qos: 1 }, (err) => {
    if (err) {
      say({ event: 'error', what: 'publish', message: String(err.message ?? err) });
      process.exit(1);
    }
    if (!seen.puback) {
      seen.puback = true;
      say({ event: 'puback' });
    }
    finish();
  });
};

client.on('connect', () => {
  seen.connect = true;
  say({ event: 'connect' });
  const afterSubscribe = () => {
    if (opt.publish) {
      publish();
      if (opt['repeat-ms']) {
        setInterval(publish, Number(opt['repeat-ms'])).unref();
      }
    }
    finish();
  };
  if (opt.subscribe) {
    client.subscribe(opt.subscribe, { qos: 1 }, (err, granted) => {
      if (err || !granted?.length || granted[0].qos > 2) {
        say({ event: 'error', what: 'subscribe', message: String(err?.message ?? 'refused') });
        process.exit(1);
      }
      seen.subscribed = true;
      say({ event: 'subscribed' });
      afterSubscribe();
    });
  } else {
    afterSubscribe();
  }
});
client.on('message', (topic, payload) => {
  seen.messages += 1;
  say({ event: 'message', topic, payload: payload.toString() });
  finish();
});
client.on('error', (err) => {
  say({ event: 'error', what: 'client', message: String(err.message ?? err) });
  process.exit(1);
});
client.on('close', () => {
  say({ event: 'close' });
  if (!done()) {
    process.exit(1);
  }
});
