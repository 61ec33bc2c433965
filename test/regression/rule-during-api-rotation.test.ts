import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Session } from '../../src/session/session.js';
import { MemorySessionStore } from '../../src/store/memory-store.js';
import { apiJson, request } from '../helpers/client.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A rotation rule that fired on the old session's answer while a /session/new for the port was
// still waiting for its store (a file's fsync, Redis's SET) rotated the port once more after
// it: the id the API answered was dead at once, and the port went out on one nobody was told.
// (The rule judged the session by the binding, which a rotation keeps until the store answers.)
// The rule's rotation now ends only the session it saw: by its turn that one is gone.

/** A memory store whose writes wait while `hold` is set; `entered` resolves when one does. */
class HeldStore extends MemorySessionStore {
  hold: Promise<void> | undefined;
  private onEnter: (() => void) | undefined;

  entered(): Promise<void> {
    return new Promise((resolve) => (this.onEnter = resolve));
  }

  override async replace(session: Session): Promise<Session> {
    if (this.hold) {
      this.onEnter?.();
      await this.hold;
    }
    return super.replace(session);
  }
}

let target: HttpTarget;
let upstream: RecordingUpstream;
let proxy: RunningProxy;
const store = new HeldStore();
let arrived: ((answer: () => void) => void) | undefined;
/** Resolves, once the next /limited reaches the target, with what answers it (429). */
const limitedArrives = (): Promise<() => void> => new Promise((resolve) => (arrived = resolve));

beforeAll(async () => {
  target = await startHttpTarget((req, res) => {
    if (req.url === '/limited') arrived?.(() => res.writeHead(429, { 'content-length': 0 }).end());
    else res.writeHead(200, { 'content-length': 2 }).end('ok');
  });
  upstream = await startRecordingUpstream();
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port) },
      Rotation: { Rules: [{ Name: 'limited', When: { Status: [429] }, Action: 'rotate', Cooldown: 0 }] },
    },
    { portCount: 1, store },
  );
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await target?.close();
});

const lastSession = (): string => upstream.seen.at(-1)!.session!;

/** A plain request on the port's session, then /limited sent and held at the target: that session, the 429 to give, the answer. */
async function limitedHeld(port: number): Promise<{ old: string; answerLimited: () => void; limited: Promise<{ status: number }> }> {
  await request(port, `${target.url}/ok`);
  const old = lastSession();
  const arrival = limitedArrives();
  const limited = request(port, `${target.url}/limited`);
  return { old, answerLimited: await arrival, limited };
}

it('a rule firing on the old session while /session/new waits for the store leaves the port on the id the API answered', async () => {
  const port = proxy.ports[0]!;
  const { old, answerLimited, limited } = await limitedHeld(port);

  let release: () => void = () => undefined;
  store.hold = new Promise((resolve) => (release = resolve));
  const entered = store.entered();
  const renewed = apiJson<{ session_id: string }>(port, '/session/new');
  await entered;
  // The 429 comes on the old session while the API's rotation waits for the store.
  answerLimited();
  expect((await limited).status).toBe(429);
  store.hold = undefined;
  release();
  const { session_id: told } = await renewed;
  expect(told).not.toBe(old);

  // A request now waits for any rotation still under way, then goes out on the port's session.
  await request(port, `${target.url}/ok`);
  expect(lastSession()).toBe(told);
  expect((await apiJson<{ session_id: string }>(port, '/session/')).session_id).toBe(told);
  expect(proxy.logs.filter((line) => line.includes('session rotated by rule'))).toEqual([]);
});

it('a rule firing with no other rotation under way still rotates', async () => {
  const port = proxy.ports[0]!;
  const { old: before, answerLimited, limited } = await limitedHeld(port);
  answerLimited();
  expect((await limited).status).toBe(429);
  await request(port, `${target.url}/ok`);
  expect(lastSession()).not.toBe(before);
});
