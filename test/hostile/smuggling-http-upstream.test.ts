// The recorder is the upstream proxy: it answers every request itself, so it sees exactly what stickyport sent.
import { startRequestRecorder } from '../helpers/request-recorder.js';
import { startStickyport } from '../helpers/stickyport.js';
import { describeSmuggling, PORTS_NEEDED, SMUGGLED_PATH } from './smuggling.js';

describeSmuggling('HTTP upstream', async () => {
  const recorder = await startRequestRecorder({ holdPattern: SMUGGLED_PATH });
  const proxy = await startStickyport(
    { Upstream: { Url: `http://customer-acme-session-{session}:secret@${recorder.authority}` } },
    { portCount: PORTS_NEEDED },
  );
  return {
    proxy,
    recorder,
    async stop() {
      await proxy.stop();
      await recorder.close();
    },
  };
});
