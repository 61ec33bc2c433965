import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { StickyportError } from '../../src/errors.js';
import { freePortRange } from '../helpers/ports.js';
import { startStickyport } from '../helpers/stickyport.js';

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('port listeners', () => {
  it('fails start-up naming the busy port and leaves nothing half-started', async () => {
    const first = await freePortRange(4);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(first + 2, '127.0.0.1', resolve));
    try {
      const failure = await startStickyport({}, { portCount: 4, startPort: first }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StickyportError);
      expect((failure as StickyportError).code).toBe('LISTEN_FAILED');
      expect((failure as Error).message).toContain(`${first + 2} (EADDRINUSE)`);
      for (const port of [first, first + 1, first + 3]) expect(await canBind(port)).toBe(true);
    } finally {
      blocker.close();
    }
  });

  it('binds one listener per port of the range and reports each', async () => {
    const proxy = await startStickyport({}, { portCount: 5 });
    try {
      const status = proxy.app.status();
      expect(status.map((entry) => entry.port)).toEqual(proxy.ports);
      expect(status.every((entry) => entry.listening)).toBe(true);
      for (const port of proxy.ports) expect(await canBind(port)).toBe(false);
    } finally {
      await proxy.stop();
    }
    for (const port of proxy.ports) expect(await canBind(port)).toBe(true);
  });
});
