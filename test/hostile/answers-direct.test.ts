// No upstream: the hostile server is the website itself.
import { startHostileServer } from '../helpers/hostile-server.js';
import { startOrigin } from '../helpers/origin.js';
import { startStickyport } from '../helpers/stickyport.js';
import { describeHostileAnswers, RESPONSE_TIMEOUT } from './answer-class.js';

describeHostileAnswers('direct', async () => {
  const hostile = await startHostileServer();
  const origin = await startOrigin();
  const proxy = await startStickyport({ Upstream: { ResponseTimeout: RESPONSE_TIMEOUT } });
  return {
    proxy,
    hostile,
    healthy: { url: `${origin.url}/`, body: 'hello' },
    async stop() {
      await proxy.stop();
      await hostile.close();
      await origin.close();
    },
  };
});
