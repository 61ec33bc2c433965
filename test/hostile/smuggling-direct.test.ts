// No upstream: the recorder is the website.
import { startRequestRecorder } from '../helpers/request-recorder.js';
import { startStickyport } from '../helpers/stickyport.js';
import { describeSmuggling, PORTS_NEEDED, SMUGGLED_PATH } from './smuggling.js';

describeSmuggling('direct', async () => {
  const recorder = await startRequestRecorder({ holdPattern: SMUGGLED_PATH });
  const proxy = await startStickyport({}, { portCount: PORTS_NEEDED });
  return {
    proxy,
    recorder,
    async stop() {
      await proxy.stop();
      await recorder.close();
    },
  };
});
