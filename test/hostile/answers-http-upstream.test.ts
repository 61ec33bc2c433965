// The hostile server is the upstream proxy itself: every port's plain HTTP goes to it.
import { startHostileServer, fineAnswer } from '../helpers/hostile-server.js';
import { startStickyport } from '../helpers/stickyport.js';
import { describeHostileAnswers, RESPONSE_TIMEOUT } from './answer-class.js';

describeHostileAnswers('HTTP upstream', async () => {
  const hostile = await startHostileServer();
  const proxy = await startStickyport({
    Upstream: { Url: `http://customer-acme-session-{session}:secret@${hostile.authority}`, ResponseTimeout: RESPONSE_TIMEOUT },
  });
  // The upstream answers any request that names no case as a good proxy would.
  const url = 'http://good-origin.example/';
  const body = fineAnswer(url).split('\r\n\r\n')[1]!;
  return {
    proxy,
    hostile,
    healthy: { url, body },
    async stop() {
      await proxy.stop();
      await hostile.close();
    },
  };
});
