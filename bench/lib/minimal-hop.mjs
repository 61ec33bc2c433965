// The minimal Node hop (own process), PERF.md's floor of any Node proxy: http.Server + a
// keep-alive http.Agent + pipe to the upstream provider for plain HTTP, and CONNECT as a raw
// CONNECT to the provider over net.connect, then a two-way pipe. No policy, no parsing beyond
// what Node does. Usage (fork): minimal-hop.mjs PROVIDER_PORT USER PASSWORD
import http from 'node:http';
import net from 'node:net';
import { endToEnd, forwardRequest, splice, whenProviderAnswers } from './proxy-util.mjs';

const [providerPort, user, password] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const AUTH = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: 'lifo' });

const server = http.createServer((req, res) => {
  const headers = endToEnd(req.headers);
  headers['proxy-authorization'] = AUTH;
  forwardRequest(req, res, { host: '127.0.0.1', port: providerPort, method: req.method, path: req.url, headers, agent });
});

server.on('connect', (req, client, head) => {
  client.on('error', () => {});
  const upstream = net.connect({ host: '127.0.0.1', port: providerPort, noDelay: true });
  upstream.on('error', () => client.destroy());
  client.once('close', () => upstream.destroy());
  upstream.once('connect', () => {
    upstream.write(`CONNECT ${req.url} HTTP/1.1\r\nHost: ${req.url}\r\nProxy-Authorization: ${AUTH}\r\n\r\n`);
  });
  whenProviderAnswers(upstream, client, head, () => splice(client, upstream));
});

server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => process.send({ ready: true, port: server.address().port }));
process.on('disconnect', () => process.exit(0));
