// `node --import THIS dist/main.js`: the first module the entry imports is not loaded until the
// test says so. The hooks connect to 127.0.0.1:$HOLD_LOADING_PORT once they hold it, and let it
// load when the test sends a byte: a signal sent in between lands while the code loads.
import { register } from 'node:module';

register('./hold-loading-hooks.mjs', import.meta.url, { data: { port: Number(process.env.HOLD_LOADING_PORT) } });
