// Bare proxy-chain (own process): its Server with a prepareRequestFunction returning one fixed
// upstreamProxyUrl, as a user of the library would write it. Usage (fork): bare-proxy-chain.mjs UPSTREAM_URL
import { Server } from 'proxy-chain';

const upstreamProxyUrl = process.argv[2];
const server = new Server({
  port: 0,
  host: '127.0.0.1',
  verbose: false,
  prepareRequestFunction: () => ({ upstreamProxyUrl }),
});
await server.listen();
process.send({ ready: true, port: server.server.address().port });
process.on('disconnect', () => process.exit(0));
