// A well-behaved SOCKS5 upstream in front of the hostile website.
import { startHostileServer } from '../helpers/hostile-server.js';
import { startOrigin } from '../helpers/origin.js';
import { startSocksUpstream } from '../helpers/socks-upstream.js';
import { startStickyport } from '../helpers/stickyport.js';
import { describeHostileAnswers, RESPONSE_TIMEOUT } from './answer-class.js';

describeHostileAnswers('SOCKS5 upstream', async () => {
  const hostile = await startHostileServer();
  const origin = await startOrigin();
  const socks = await startSocksUpstream('secret');
  const proxy = await startStickyport({
    Upstream: { Url: `socks5://customer-acme-session-{session}:secret@127.0.0.1:${socks.port}`, ResponseTimeout: RESPONSE_TIMEOUT },
  });
  return {
    proxy,
    hostile,
    healthy: { url: `${origin.url}/`, body: 'hello' },
    async stop() {
      await proxy.stop();
      await socks.close();
      await hostile.close();
      await origin.close();
    },
  };
});
