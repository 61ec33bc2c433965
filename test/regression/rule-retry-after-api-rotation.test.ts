import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { apiJson, request } from '../helpers/client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startStickyport, upstreamUrl, type RunningProxy } from '../helpers/stickyport.js';

// A rotate-and-retry rule (429) whose answer arrives after an API call already rotated the port:
// the rule found its session gone ("another rotation already ended this session") and passed
// the 429 on with no retry. The request now goes once more, on the port's new session.

let target: HttpTarget;
let targetUrl: string;
/** The first request to /held is held until the test lets it answer (429). */
let letAnswer: (() => void) | undefined;
let heldArrived: Promise<void>;
let heldArrive: () => void;
let upstream: RecordingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  heldArrived = new Promise((resolve) => (heldArrive = resolve));
  let first = true;
  target = await startHttpTarget((req, res) => {
    if (req.url === '/held' && first) {
      first = false;
      letAnswer = () => {
        letAnswer = undefined;
        res.writeHead(429, { 'content-type': 'text/plain' }).end('429');
      };
      heldArrive();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('200');
  });
  targetUrl = target.url;
  upstream = await startRecordingUpstream();
  proxy = await startStickyport(
    {
      Upstream: { Url: upstreamUrl(upstream.port) },
      SessionAPI: { Enabled: true },
      Rotation: { Rules: [{ Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry' }] },
      Logging: { Level: 'warn' },
    },
    { portCount: 1 },
  );
});

afterAll(async () => {
  letAnswer?.();
  await proxy?.stop();
  await upstream?.close();
  await target?.close();
});

it('a 429 that arrives after the API rotated the port is retried once on the new session; the client sees the 200', async () => {
  const port = proxy.ports[0]!;
  const { session_id: before } = await apiJson<{ session_id: string }>(port, '/session/');
  const answer = request(port, `${targetUrl}/held`, { agent: false });
  await heldArrived;
  const { session_id: renewed } = await apiJson<{ session_id: string }>(port, '/session/new');
  expect(renewed).not.toBe(before);
  letAnswer?.();
  const { status, body } = await answer;
  expect({ status, body }).toEqual({ status: 200, body: '200' });
  const held = upstream.seen.filter((entry) => entry.target.endsWith('/held')).map((entry) => entry.session);
  expect(held).toEqual([before, renewed]);
});
