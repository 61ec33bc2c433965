import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/identity-events.js';
import { apiJson, openTunnel, request } from '../helpers/client.js';
import { startAddressEcho, startExitProvider, type AddressEcho, type ExitProvider } from '../helpers/exit-provider.js';
import { startStickyport, type RunningProxy, type Settings } from '../helpers/stickyport.js';

// Rotation rules, judged by the provider (which session each request left with) and the origin
// (which exit address it came from). The origin "bans" exits: it answers 429 or a captcha page
// to the addresses in `banned`.

let provider: ExitProvider;
let echo: AddressEcho;
let proxy: RunningProxy | undefined;
const banned = new Set<string>();

beforeAll(async () => {
  provider = await startExitProvider();
  echo = await startAddressEcho();
});

afterEach(async () => {
  provider.decide = undefined;
  echo.answer = undefined;
  banned.clear();
  await proxy?.stop();
  proxy = undefined;
});

afterAll(async () => {
  await provider.close();
  await echo.close();
});

async function start(rules: unknown[], more: Settings = {}): Promise<RunningProxy> {
  proxy = await startStickyport(
    {
      Upstream: { Url: `http://customer-acme-session-{session}:secret@127.0.0.1:${provider.port}` },
      Rotation: { Rules: rules },
      ...more,
    },
    { portCount: 1 },
  );
  return proxy;
}

const sessionOf = async (port: number): Promise<string> => (await apiJson<{ session_id: string }>(port, '/session/')).session_id;
const banSession = (session: string): void => void banned.add(provider.addressOf(session));
const page = `/page`;
const sent = (from: number, path = page) => provider.seen.slice(from).filter((seen) => seen.target.endsWith(path));

function answerBanned(answer: (address: string) => { status: number; headers?: Record<string, string>; body?: string | Buffer }): void {
  echo.answer = (address, path) => (path === page && banned.has(address) ? answer(address) : undefined);
}

function nextEvent<T extends IdentityEvent['type']>(type: T): Promise<Extract<IdentityEvent, { type: T }>> {
  return new Promise((resolve) => {
    const off = proxy!.app.events.on((event) => {
      if (event.type === type) {
        off();
        resolve(event as Extract<IdentityEvent, { type: T }>);
      }
    });
  });
}

describe('rotation rules on plain-HTTP answers', () => {
  it('429 rotates: the client gets the 429, the next request leaves on a new session, logged with the rule\'s name', async () => {
    const { ports: [port] } = await start([{ Name: 'rate-limited', When: { Status: [429, '503'] } }]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429, body: 'slow down' }));
    const rotated = nextEvent('rule-rotation');
    const from = provider.seen.length;
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.status).toBe(429);
    expect(await rotated).toMatchObject({ port, rule: 'rate-limited', previousId: first, trigger: 'status 429' });
    const next = await request(port!, `${echo.url}${page}`);
    expect(next.status).toBe(200);
    const seen = sent(from);
    expect(seen.map((entry) => entry.session)).toEqual([first, expect.not.stringMatching(first)]);
    expect(proxy!.app.events.counts.ruleRotations.get('rate-limited')).toBe(1);
    const line = proxy!.logs.map((text) => JSON.parse(text)).find((entry) => entry.msg === 'session rotated by rule');
    expect(line).toMatchObject({ level: 30, port, rule: 'rate-limited', previousId: first, sessionId: seen[1]!.session, trigger: 'status 429' });
  });

  it('a header rule matches by name in any case and by value (substring, or a regular expression)', async () => {
    const { ports: [port] } = await start([{ Name: 'challenged', When: { Header: { Name: 'CF-Mitigated', Value: '/^chall/' } } }]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 403, headers: { 'cf-mitigated': 'challenge' }, body: 'x' }));
    const rotated = nextEvent('rule-rotation');
    expect((await request(port!, `${echo.url}${page}`)).status).toBe(403);
    expect((await rotated).trigger).toBe('header cf-mitigated');
    expect(await sessionOf(port!)).not.toBe(first);
  });

  it('a captcha marker in the body rotates, also gzipped, and the page reaches the client whole', async () => {
    const { ports: [port] } = await start([{ Name: 'captcha', When: { BodyContains: 'g-recaptcha' } }], { Rotation: { BodyScanKiB: 8, Rules: [{ Name: 'captcha', When: { BodyContains: 'g-recaptcha' }, Cooldown: 0 }] } });
    const html = `<html>${'<p>filler</p>'.repeat(300)}<div class="g-recaptcha"></div></html>`;
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 200, headers: { 'content-type': 'text/html' }, body: html }));
    let rotated = nextEvent('rule-rotation');
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.body).toBe(html);
    expect(await rotated).toMatchObject({ rule: 'captcha', previousId: first });

    const second = await sessionOf(port!);
    banSession(second);
    answerBanned(() => ({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'content-encoding': 'gzip' }, body: gzipSync(html) }));
    rotated = nextEvent('rule-rotation');
    const zipped = await request(port!, `${echo.url}${page}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(await rotated).toMatchObject({ rule: 'captcha', previousId: second });
  });

  it('looks no further than Rotation.BodyScanKiB, and not into images', async () => {
    const { ports: [port] } = await start([], { Rotation: { BodyScanKiB: 1, Rules: [{ Name: 'captcha', When: { BodyContains: 'g-recaptcha' } }] } });
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 200, headers: { 'content-type': 'text/html' }, body: `${'x'.repeat(4096)}g-recaptcha` }));
    await request(port!, `${echo.url}${page}`);
    answerBanned(() => ({ status: 200, headers: { 'content-type': 'image/png' }, body: 'g-recaptcha' }));
    await request(port!, `${echo.url}${page}`);
    // A rotation would show in the very next request's session; none happened.
    await request(port!, `${echo.url}/other`);
    expect(provider.seen.at(-1)!.session).toBe(first);
    expect(proxy!.app.events.counts.ruleRotations.size).toBe(0);
  });

  it('the cooldown holds: a second 429 on the new session within it does not rotate again', async () => {
    const { ports: [port] } = await start([{ Name: 'rate-limited', When: { Status: 429 }, Cooldown: '30s' }]);
    echo.answer = (_address, path) => (path === page ? { status: 429 } : undefined);
    const first = await sessionOf(port!);
    const rotated = nextEvent('rule-rotation');
    await request(port!, `${echo.url}${page}`);
    await rotated;
    const second = await sessionOf(port!);
    expect(second).not.toBe(first);
    for (let i = 0; i < 3; i++) expect((await request(port!, `${echo.url}${page}`)).status).toBe(429);
    expect(await sessionOf(port!)).toBe(second);
    expect(proxy!.app.events.counts.ruleRotations.get('rate-limited')).toBe(1);
    expect(provider.seen.filter((seen) => seen.target.endsWith(page)).slice(-3).map((seen) => seen.session)).toEqual([second, second, second]);
  });

  it('Consecutive counts matching answers in a row: a success starts the count again', async () => {
    const { ports: [port] } = await start([{ Name: 'three-503', When: { Status: 503, Consecutive: 3 } }]);
    const first = await sessionOf(port!);
    let failing = true;
    echo.answer = (_address, path) => (path === page && failing ? { status: 503 } : undefined);
    await request(port!, `${echo.url}${page}`);
    await request(port!, `${echo.url}${page}`);
    failing = false;
    await request(port!, `${echo.url}${page}`);
    failing = true;
    await request(port!, `${echo.url}${page}`);
    await request(port!, `${echo.url}${page}`);
    expect(await sessionOf(port!)).toBe(first);
    const rotated = nextEvent('rule-rotation');
    await request(port!, `${echo.url}${page}`);
    expect((await rotated).previousId).toBe(first);
  });
});

describe('rule order and what counts as a success', () => {
  // Rules watching only the head were all asked before any rule with BodyContains, whatever
  // the list said: a 403 with a captcha went to the patient rule below the eager one.
  it('a BodyContains rule before a Status rule decides first: a captcha 403 is retried, a plain 403 goes on to the rule below', async () => {
    const { ports: [port] } = await start([
      { Name: 'captcha', When: { Status: [403], BodyContains: 'captcha' }, Action: 'rotate-and-retry' },
      { Name: 'three-403', When: { Status: [403], Consecutive: 3 }, Cooldown: 0 },
    ]);
    const first = await sessionOf(port!);
    banSession(first);
    let body = '<html>captcha</html>';
    answerBanned(() => ({ status: 403, headers: { 'content-type': 'text/html' }, body }));
    const from = provider.seen.length;
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.body).toBe('ok');
    expect(sent(from).map((seen) => seen.session === first)).toEqual([true, false]);
    expect(proxy!.app.events.counts).toMatchObject({ ruleRetries: 1 });
    // No marker: the answer goes on to the second rule, which acts at its third in a row.
    const second = await sessionOf(port!);
    banSession(second);
    body = '<html>forbidden</html>';
    for (let i = 0; i < 2; i++) expect((await request(port!, `${echo.url}${page}`)).status).toBe(403);
    expect(await sessionOf(port!)).toBe(second);
    const rotated = nextEvent('rule-rotation');
    expect((await request(port!, `${echo.url}${page}`)).status).toBe(403);
    expect(await rotated).toMatchObject({ rule: 'three-403', previousId: second, trigger: 'status 403' });
  });

  // Waiting for the whole window before asking the later rule made its rotate-and-retry a plain
  // rotate for nearly every answer: the head had left with the first body bytes by then.
  it.each([
    ['no body', ''],
    ['a short text body', 'slow down'],
  ])('a retrying Status rule after a BodyContains rule still retries an answer with %s and no marker', async (_, body) => {
    const { ports: [port] } = await start([
      { Name: 'captcha', When: { BodyContains: 'captcha' } },
      { Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry' },
    ]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429, headers: { 'content-type': 'text/plain' }, body }));
    const from = provider.seen.length;
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.status).toBe(200);
    expect(sent(from).map((seen) => seen.session === first)).toEqual([true, false]);
  });

  it('the BodyContains rule before it still takes an answer whose first bytes hold its marker; a compressed one goes to the retrying rule unread', async () => {
    const { ports: [port] } = await start([
      { Name: 'captcha', When: { BodyContains: 'captcha' }, Cooldown: 0 },
      { Name: 'limited', When: { Status: [429] }, Action: 'rotate-and-retry', Cooldown: 0 },
    ]);
    for (const gzipped of [false, true]) {
      const before = await sessionOf(port!);
      banSession(before);
      const page429 = Buffer.from('<html>captcha</html>');
      answerBanned(() => ({ status: 429, headers: { 'content-type': 'text/html', ...(gzipped ? { 'content-encoding': 'gzip' } : {}) }, body: gzipped ? gzipSync(page429) : page429 }));
      const rotated = nextEvent('rule-rotation');
      const from = provider.seen.length;
      const answer = await request(port!, `${echo.url}${page}`);
      if (!gzipped) {
        // The captcha rule rotates without retrying: the client gets the 429 it matched.
        expect(answer.status).toBe(429);
        expect(await rotated).toMatchObject({ rule: 'captcha', previousId: before, retried: false });
        expect(sent(from)).toHaveLength(1);
      } else {
        // Its markers would be known only after the head had to leave: the retrying rule takes it.
        expect(answer.status).toBe(200);
        expect(await rotated).toMatchObject({ rule: 'limited', previousId: before, retried: true });
        expect(sent(from)).toHaveLength(2);
      }
    }
  });

  // A retrying rule that would not retry now (its Consecutive not reached, or cooling down)
  // decided on the first bytes all the same, and a marker further in was never seen.
  it('a later rule that would not retry now leaves the answer to the BodyContains rule\'s whole window', async () => {
    const rules = [
      { Name: 'captcha', When: { BodyContains: 'captcha' } },
      { Name: 'limited', When: { Status: [429], Consecutive: 3 }, Action: 'rotate-and-retry' },
    ];
    const { ports: [port] } = await start(rules, { Rotation: { Rules: rules, BodyScanKiB: 256 } });
    const first = await sessionOf(port!);
    banSession(first);
    // The marker 150 KB in: far past the first read.
    const body = `<html>${'x'.repeat(150_000)} captcha </html>`;
    answerBanned(() => ({ status: 429, headers: { 'content-type': 'text/html' }, body }));
    const rotated = nextEvent('rule-rotation');
    expect((await request(port!, `${echo.url}${page}`)).status).toBe(429);
    expect(await rotated).toMatchObject({ rule: 'captcha', previousId: first });
  });

  // HEAD, 204 and 304 are answered at their head: the rule after a BodyContains rule only rotated.
  it('an answer with no body goes straight to the rule after the BodyContains rule, which retries it', async () => {
    const { ports: [port] } = await start([
      { Name: 'captcha', When: { BodyContains: 'captcha' } },
      { Name: 'blocked', When: { Status: [204] }, Action: 'rotate-and-retry' },
    ]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 204 }));
    const from = provider.seen.length;
    expect((await request(port!, `${echo.url}${page}`)).status).toBe(200);
    expect(sent(from).map((seen) => seen.session === first)).toEqual([true, false]);
  });

  // A body labelled gzip that is not: the scan gave up, and the answer went to no rule at all.
  it('an answer whose body does not decode goes on to the rule after the BodyContains rule', async () => {
    const { ports: [port] } = await start([
      { Name: 'captcha', When: { BodyContains: 'captcha' } },
      { Name: 'limited', When: { Status: [429] } },
    ]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429, headers: { 'content-type': 'text/html', 'content-encoding': 'gzip' }, body: 'not gzip at all' }));
    const rotated = nextEvent('rule-rotation');
    await request(port!, `${echo.url}${page}`);
    expect(await rotated).toMatchObject({ rule: 'limited', previousId: first });
  });

  // "A success on the port starts the count again": a tunnel that opened did not end the run of
  // an answer rule, nor a plain 200 that of a ConnectStatus rule.
  it('a success of either kind ends every rule\'s run: a tunnel between 429s, a 200 between CONNECT refusals', async () => {
    const { ports: [port] } = await start([
      { Name: 'three-429', When: { Status: 429, Consecutive: 3 } },
      { Name: 'three-403-tunnels', When: { ConnectStatus: [403], Consecutive: 3 } },
    ]);
    const first = await sessionOf(port!);
    let failing = true;
    echo.answer = (_address, path) => (path === page && failing ? { status: 429 } : undefined);
    const target = `127.0.0.1:${echo.port}`;
    const tunnelStatus = async (): Promise<number> => {
      const tunnel = await openTunnel(port!, target);
      tunnel.socket.destroy();
      return tunnel.status;
    };
    await request(port!, `${echo.url}${page}`);
    await request(port!, `${echo.url}${page}`);
    expect(await tunnelStatus()).toBe(200);
    await request(port!, `${echo.url}${page}`);
    expect(await sessionOf(port!)).toBe(first);
    failing = false;
    provider.decide = (seen) => (seen.kind === 'connect' && seen.session === first ? { status: 403 } : undefined);
    expect(await tunnelStatus()).toBe(502);
    expect(await tunnelStatus()).toBe(502);
    expect((await request(port!, `${echo.url}${page}`)).status).toBe(200);
    expect(await tunnelStatus()).toBe(502);
    expect(await sessionOf(port!)).toBe(first);
  });
});

// Tunnels were watched only on a mapping with a ConnectStatus rule: without one, a tunnel that
// opened did not end an answer rule's run.
it('a tunnel that opens ends an answer rule\'s run on a mapping without ConnectStatus rules', async () => {
  const { ports: [port] } = await start([{ Name: 'two-5xx', When: { Status: ['5xx'], Consecutive: 2 } }]);
  const first = await sessionOf(port!);
  echo.answer = (_address, path) => (path === page ? { status: 500 } : undefined);
  await request(port!, `${echo.url}${page}`);
  const tunnel = await openTunnel(port!, `127.0.0.1:${echo.port}`);
  expect(tunnel.status).toBe(200);
  tunnel.socket.destroy();
  await request(port!, `${echo.url}${page}`);
  expect(await sessionOf(port!)).toBe(first);
});

describe('rotate-and-retry', () => {
  it('a GET refused on the old session is sent once more on the new one: the client sees only the success', async () => {
    const { ports: [port] } = await start([{ Name: 'banned', When: { Status: 429 }, Action: 'rotate-and-retry' }], { SessionAPI: { Enabled: true, ExposeSessionHeader: true } });
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429, body: 'banned' }));
    const from = provider.seen.length;
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('ok');
    const seen = sent(from);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.session).toBe(first);
    expect(seen[1]!.session).not.toBe(first);
    expect(answer.headers['x-stickyport-session-id']).toBe(seen[1]!.session);
    // The origin saw the request come from the old exit, then from the new one.
    expect(echo.seen.filter((entry) => entry.path === page).slice(-2).map((entry) => entry.address)).toEqual([provider.addressOf(first), provider.addressOf(seen[1]!.session!)]);
    expect(proxy!.app.events.counts).toMatchObject({ ruleRetries: 1 });
  });

  it('a captcha page in the read that brought the head is retried too', async () => {
    const { ports: [port] } = await start([{ Name: 'captcha', When: { Status: 200, BodyContains: 'captcha' }, Action: 'rotate-and-retry' }]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>captcha</html>' }));
    const from = provider.seen.length;
    const answer = await request(port!, `${echo.url}${page}`);
    expect(answer.body).toBe('ok');
    expect(sent(from).map((seen) => seen.session === first)).toEqual([true, false]);
  });

  it('a POST rotates the port but is never sent twice', async () => {
    const { ports: [port] } = await start([{ Name: 'banned', When: { Status: 429 }, Action: 'rotate-and-retry' }]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429, body: 'banned' }));
    const from = provider.seen.length;
    const rotated = nextEvent('rule-rotation');
    const answer = await request(port!, `${echo.url}${page}`, { method: 'POST', body: 'order=1' });
    expect(answer.status).toBe(429);
    expect(answer.body).toBe('banned');
    await rotated;
    expect(sent(from).map((seen) => [seen.method, seen.session])).toEqual([['POST', first]]);
    expect(await sessionOf(port!)).not.toBe(first);
  });

  it('requests that met the same banned session at once rotate the port once, and each is retried on the new one', async () => {
    const { ports: [port] } = await start([{ Name: 'banned', When: { Status: 429 }, Action: 'rotate-and-retry', Cooldown: 0 }]);
    const first = await sessionOf(port!);
    banSession(first);
    answerBanned(() => ({ status: 429 }));
    const from = provider.seen.length;
    const answers = await Promise.all(Array.from({ length: 6 }, () => request(port!, `${echo.url}${page}`)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(proxy!.app.events.counts.ruleRotations.get('banned')).toBe(1);
    const second = await sessionOf(port!);
    const retried = sent(from).filter((seen) => seen.session !== first);
    expect(retried.length).toBeGreaterThanOrEqual(6);
    expect(retried.every((seen) => seen.session === second)).toBe(true);
  });
});

describe('rotation rules on tunnels', () => {
  it('three CONNECT refusals in a row rotate the port; the next tunnel opens on the new session', async () => {
    const { ports: [port] } = await start([{ Name: 'refused-3', When: { ConnectStatus: [403, 'refused'], Consecutive: 3 } }]);
    const first = await sessionOf(port!);
    provider.decide = (seen) => (seen.kind === 'connect' && seen.session === first ? { status: 403 } : undefined);
    const target = `127.0.0.1:${echo.port}`;
    const from = provider.seen.length;
    for (let i = 0; i < 2; i++) {
      const tunnel = await openTunnel(port!, target);
      expect(tunnel.status).toBe(502);
      tunnel.socket.destroy();
    }
    expect(await sessionOf(port!)).toBe(first);
    const rotated = nextEvent('rule-rotation');
    const third = await openTunnel(port!, target);
    expect(third.status).toBe(502);
    third.socket.destroy();
    expect(await rotated).toMatchObject({ rule: 'refused-3', previousId: first, trigger: 'CONNECT 403' });
    const fourth = await openTunnel(port!, target);
    expect(fourth.status).toBe(200);
    fourth.socket.destroy();
    const connects = provider.seen.slice(from).filter((seen) => seen.kind === 'connect');
    expect(connects.map((seen) => seen.session === first)).toEqual([true, true, true, false]);
  });

  it('rotate-and-retry opens a refused tunnel once more on the new session', async () => {
    const { ports: [port] } = await start([{ Name: 'refused', When: { ConnectStatus: '4xx' }, Action: 'rotate-and-retry' }]);
    const first = await sessionOf(port!);
    provider.decide = (seen) => (seen.kind === 'connect' && seen.session === first ? { status: 403 } : undefined);
    const tunnel = await openTunnel(port!, `127.0.0.1:${echo.port}`);
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
    const connects = provider.seen.filter((seen) => seen.kind === 'connect').slice(-2);
    expect(connects.map((seen) => seen.session === first)).toEqual([true, false]);
  });
});
