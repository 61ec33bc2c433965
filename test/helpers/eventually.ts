import { setTimeout as delay } from 'node:timers/promises';

/**
 * Waits until `check` returns true, polling every 10 ms, for at most `timeoutMs`. For states
 * no event announces (a socket count returning to its baseline); fails with `what` on time-out.
 */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(10);
  }
}
