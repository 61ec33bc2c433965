// Module hooks (they run on node's loader thread) for hold-loading.mjs.
import net from 'node:net';

let port = 0;
let held = false;

export function initialize(data) {
  port = data.port;
}

export async function resolve(specifier, context, next) {
  if (!held && context.parentURL?.endsWith('/dist/main.js')) {
    held = true;
    await new Promise((release, fail) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', () => {
        socket.destroy();
        release();
      });
      socket.once('error', fail);
    });
  }
  return next(specifier, context);
}
