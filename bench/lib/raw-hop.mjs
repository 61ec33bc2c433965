// The floor of any Node CONNECT proxy (own process): no http.Server and no parser at all, only
// net sockets. It reads the client's head up to CRLFCRLF, takes the target from the request
// line by hand, opens the provider with net.connect, sends CONNECT with the login, waits for
// the provider's head, answers 200 and relays with 'data' handlers and write(), pausing on a
// full write buffer. No limits, no timers, no error answers beyond closing: what Node itself
// costs per CONNECT cycle (two net.Sockets, their reads, writes and close), measured beside
// Squid by `node bench/ab.mjs --connect --raw-hop`. Plain HTTP is not served.
// Usage (fork): raw-hop.mjs PROVIDER_PORT USER PASSWORD
import net from 'node:net';
import { readHead, whenProviderAnswers } from './proxy-util.mjs';

const [providerPort, user, password] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const AUTH = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** One direction of the relay, with backpressure. */
function relay(from, to) {
  from.on('data', (chunk) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
  client.on('error', () => {});
  readHead(client, (head, early) => {
    const space = head.indexOf(' ');
    const target = head.slice(space + 1, head.indexOf(' ', space + 1));
    if (!head.startsWith('CONNECT ') || target.length === 0) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: providerPort, noDelay: true, allowHalfOpen: true });
    upstream.on('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    upstream.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${AUTH}\r\n\r\n`);
    whenProviderAnswers(upstream, client, early, () => {
      relay(client, upstream);
      relay(upstream, client);
    });
  });
});

server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('disconnect', () => process.exit(0));
