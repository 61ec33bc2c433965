import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostileAnswer, HostileServer } from '../helpers/hostile-server.js';
import { apiJson } from '../helpers/client.js';
import type { RunningProxy } from '../helpers/stickyport.js';
import { allAnswerCases, BODY, SMUGGLED_ANSWER, type AnswerCase, type Outcome } from './answer-cases.js';
import { describeAnswer, headerOf, WireConnection, type WireAnswer } from './wire.js';

/** One route under test: stickyport in-process, the hostile peer, and a good origin behind the same route. */
export interface HostileRoute {
  readonly proxy: RunningProxy;
  readonly hostile: HostileServer;
  /** A normal request through this route to a good origin, and the body it answers. */
  readonly healthy: { readonly url: string; readonly body: string };
  stop(): Promise<void>;
}

/** stickyport's Upstream.ResponseTimeout in these files: the silent cases end in a 504 after it. */
export const RESPONSE_TIMEOUT = '800ms';
/** Every exchange is bounded by this; a case that needs longer has hung. */
const DEADLINE_MS = 3_000;
const BATCH = 20;

/**
 * The class of hostile answers (test/hostile/answer-cases.ts) against one route. The cases of a
 * group run 20 at a time on the route's first port; after each batch every port must still
 * answer a normal request, and no uncaught exception may have been thrown (in a real process
 * it would have killed every port). Each group is one test that lists every failing case.
 */
export function describeHostileAnswers(routeName: string, start: () => Promise<HostileRoute>): void {
  describe(`hostile answers through the ${routeName} route`, () => {
    let route: HostileRoute;
    const crashes: string[] = [];
    const onCrash = (error: unknown): void => {
      crashes.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    };

    // A monitor only: vitest still reports each uncaught exception and fails the run with it.
    beforeAll(async () => {
      process.on('uncaughtExceptionMonitor', onCrash);
      process.on('unhandledRejection', onCrash);
      route = await start();
    });

    afterAll(async () => {
      await route?.stop();
      process.off('uncaughtExceptionMonitor', onCrash);
      process.off('unhandledRejection', onCrash);
    });

    for (const [group, cases] of allAnswerCases()) {
      it(`${group}: ${cases.length} cases, each relayed intact, a 502, or cut after its head; never a hang or a crash`, async () => {
        const slug = group.replace(/\W+/g, '-');
        const failures: string[] = [];
        for (let first = 0; first < cases.length; first += BATCH) {
          const batch = cases.slice(first, first + BATCH);
          const crashesBefore = crashes.length;
          const results = await Promise.all(batch.map((one, i) => runCase(route, one, `${slug}-${first + i}`)));
          failures.push(...results.filter((result): result is string => result !== undefined));
          if (crashes.length > crashesBefore) {
            failures.push(
              `cases ${first}-${first + batch.length - 1}: ${crashes.length - crashesBefore} uncaught exception(s), ` +
                `each would have killed the process: ${tally(crashes.slice(crashesBefore))}`,
            );
          }
          failures.push(...(await portsThatStopped(route)));
        }
        expect(failures).toEqual([]);
      }, 120_000);
    }

    it('bytes an upstream sends after an answer never become the answer to a later request', async () => {
      const failures: string[] = [];
      for (const [i, { name, answer, method, status, body, sameWrite }] of LINGERING.entries()) {
        // A new session, with one pooled upstream connection that the case then reuses (a
        // reused connection is where late bytes wait): no case sees what an earlier one left.
        await apiJson(route.proxy.ports[0]!, '/session/reset');
        const warm = await WireConnection.open(route.proxy.ports[0]!);
        const warmed = await warm.exchange(requestBytes('GET', `http://${route.hostile.authority}/fine/warm-${i}`, route.hostile.authority), 'GET', DEADLINE_MS);
        warm.destroy();
        if (!isFine(warmed, `warm-${i}`)) failures.push(`${name}: the warm-up request got ${describeAnswer(warmed)}`);
        const problem = await lingeringCase(route, `lingering-${i}`, answer, method, { status, body }, sameWrite);
        if (problem) failures.push(`${name}: ${problem}`);
        // A connection the server desynchronised goes with its session (see lingeringCase).
        if (!sameWrite) await apiJson(route.proxy.ports[0]!, '/session/reset');
        failures.push(...(await portsThatStopped(route)));
      }
      expect(failures).toEqual([]);
    }, 60_000);
  });
}

/** `message (xN)` for each distinct message. */
function tally(messages: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const message of messages) counts.set(message, (counts.get(message) ?? 0) + 1);
  return [...counts].map(([message, count]) => (count > 1 ? `${message} (x${count})` : message)).join(' / ');
}

function requestBytes(method: string, url: string, authority: string): string {
  return `${method} ${url} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

/** Runs one case on the route's first port; returns what went wrong, or undefined. */
async function runCase(route: HostileRoute, one: AnswerCase, key: string): Promise<string | undefined> {
  const { hostile, proxy } = route;
  hostile.answer(key, one.answer);
  const connection = await WireConnection.open(proxy.ports[0]!);
  try {
    const answer = await connection.exchange(requestBytes(one.method, `http://${hostile.authority}/case/${key}`, hostile.authority), one.method, DEADLINE_MS);
    const outcome = outcomeOf(one, answer);
    if (outcome === undefined || !one.allow.includes(outcome)) {
      const relay = one.relay ? ` (a relay is ${one.relay.status} with body ${one.relay.bodies.map((b) => JSON.stringify(b.slice(0, 30))).join(' or ')})` : '';
      return `${one.name}: got ${describeAnswer(answer)}; allowed: ${one.allow.join(' or ')}${relay}`;
    }
    if (answer.kind !== 'answer' || connection.closed) return undefined;
    return await nextAnswerIsOwn(connection, route, `${key}-next`, `${one.name}: ${outcome}`, true);
  } finally {
    connection.destroy();
  }
}

/** Which allowed outcome `answer` is, if any. */
function outcomeOf(one: AnswerCase, answer: WireAnswer): Outcome | undefined {
  if (answer.kind === 'cut') return answer.afterHead ? 'cut' : undefined;
  if (answer.kind !== 'answer') return undefined;
  const error = headerOf(answer, 'x-stickyport-error');
  if (error !== undefined) {
    const reason = answer.body.toString('latin1');
    const short = reason.length > 0 && reason.length <= 300 && /^[\x20-\x7e\n]+$/.test(reason);
    const status = answer.status === 502 || (answer.status === 504 && error === 'UPSTREAM_TIMEOUT');
    // An upstream that answered was reached: never UPSTREAM_UNREACHABLE or UPSTREAM_REFUSED.
    const named = /^[A-Z][A-Z_]+$/.test(error) && error !== 'UPSTREAM_UNREACHABLE' && error !== 'UPSTREAM_REFUSED';
    return status && short && named ? 'error' : undefined;
  }
  const { relay } = one;
  if (!relay || answer.status !== relay.status || !relay.bodies.includes(answer.body.toString('latin1'))) return undefined;
  if (relay.header && headerOf(answer, relay.header[0]) !== relay.header[1]) return undefined;
  return 'relay';
}

/**
 * The next request on the same client connection gets its own answer: nothing left over from the
 * previous one (a second answer smuggled behind it) may arrive in its place. `staleOk`: a 502
 * UPSTREAM_RESET is accepted too (with cases running side by side, a pooled upstream connection
 * the hostile server has just closed may be picked up; that is no leftover).
 */
async function nextAnswerIsOwn(connection: WireConnection, route: HostileRoute, key: string, what: string, staleOk = false): Promise<string | undefined> {
  const leftover = connection.pending();
  if (leftover.length > 0) return `${what}, then ${leftover.length} more bytes: ${JSON.stringify(leftover.toString('latin1').slice(0, 80))}`;
  const { hostile } = route;
  const next = await connection.exchange(requestBytes('GET', `http://${hostile.authority}/fine/${key}`, hostile.authority), 'GET', DEADLINE_MS);
  const stale = staleOk && next.kind === 'answer' && next.status === 502 && headerOf(next, 'x-stickyport-error') === 'UPSTREAM_RESET';
  return isFine(next, key) || stale ? undefined : `${what}, then the next request on that connection got ${describeAnswer(next)}`;
}

/** The hostile server's answer to `/fine/<key>`: `fine <target>`, the target as it saw it. */
function isFine(answer: WireAnswer, key: string): boolean {
  if (answer.kind !== 'answer' || answer.status !== 200) return false;
  const body = answer.body.toString('latin1');
  return body.startsWith('fine ') && body.endsWith(`/fine/${key}`);
}

/** Ports that no longer answer a normal request with 200 and the good origin's body. */
async function portsThatStopped(route: HostileRoute): Promise<string[]> {
  const { proxy, healthy } = route;
  const problems: string[] = [];
  for (const [index, port] of proxy.ports.entries()) {
    let answer: WireAnswer;
    try {
      const connection = await WireConnection.open(port);
      answer = await connection.exchange(requestBytes('GET', healthy.url, new URL(healthy.url).host), 'GET', DEADLINE_MS);
      connection.destroy();
    } catch (error) {
      problems.push(`port ${port} refuses connections: ${String(error)}`);
      continue;
    }
    if (answer.kind !== 'answer' || answer.status !== 200 || answer.body.toString() !== healthy.body) {
      const which = index === 0 ? 'the port that carried the hostile cases' : 'a port no hostile case touched';
      problems.push(`${which} (${port}) answered a normal request with ${describeAnswer(answer)}`);
    }
  }
  return problems;
}

const OK = 'HTTP/1.1 200 OK\r\n';
const SMUGGLED_LENGTH = `Content-Length: ${SMUGGLED_ANSWER.length}\r\n\r\n`;

/**
 * Answers followed by a complete second answer on a connection the upstream keeps open: in the
 * same write, or in a write of its own (it may then reach the proxy after the first answer ended).
 */
const LINGERING: ReadonlyArray<{ name: string; answer: HostileAnswer; method: 'GET' | 'HEAD'; status: number; body: string; sameWrite: boolean }> = [
  { name: 'a Content-Length body', head: `${OK}Content-Length: 10\r\n\r\n${BODY}`, method: 'GET' as const, status: 200, body: BODY },
  { name: 'Content-Length: 0', head: `${OK}Content-Length: 0\r\n\r\n`, method: 'GET' as const, status: 200, body: '' },
  { name: 'a chunked body', head: `${OK}Transfer-Encoding: chunked\r\n\r\na\r\n${BODY}\r\n0\r\n\r\n`, method: 'GET' as const, status: 200, body: BODY },
  { name: 'a 204 with a Content-Length', head: `HTTP/1.1 204 No Content\r\n${SMUGGLED_LENGTH}`, method: 'GET' as const, status: 204, body: '' },
  { name: 'a 304 with a Content-Length', head: `HTTP/1.1 304 Not Modified\r\n${SMUGGLED_LENGTH}`, method: 'GET' as const, status: 304, body: '' },
  { name: 'an answer to HEAD with a Content-Length', head: `${OK}${SMUGGLED_LENGTH}`, method: 'HEAD' as const, status: 200, body: '' },
].flatMap(({ head, ...rest }) => [
  { ...rest, name: `${rest.name}, a second answer in the same write`, answer: { bytes: [`${head}${SMUGGLED_ANSWER}`], after: 'keep-alive' as const }, sameWrite: true },
  { ...rest, name: `${rest.name}, a second answer in a write of its own`, answer: { bytes: [head, SMUGGLED_ANSWER], after: 'keep-alive' as const }, sameWrite: false },
]);

/**
 * One lingering case, alone on the port: the first answer is relayed (or refused), then the
 * same client connection and a new one each get their own answer, never the smuggled one.
 *
 * When the second answer comes in a write of its own, it may reach the proxy after the proxy
 * has sent the next request on that pooled connection: it is then, to any HTTP/1.1 client
 * (undici, Squid, a browser), the server's answer to that request, and nothing can tell it
 * apart. The harm stays with the one server that sent it (each session has its own pool, each
 * target its own connections on the direct route), so for those only the first answer, the
 * process and the other ports are checked.
 */
async function lingeringCase(
  route: HostileRoute,
  key: string,
  answer: HostileAnswer,
  method: string,
  expected: { status: number; body: string },
  sameWrite: boolean,
): Promise<string | undefined> {
  const { hostile, proxy } = route;
  hostile.answer(key, answer);
  const first = await WireConnection.open(proxy.ports[0]!);
  try {
    const got = await first.exchange(requestBytes(method, `http://${hostile.authority}/case/${key}`, hostile.authority), method, DEADLINE_MS);
    const refused = got.kind === 'answer' && got.status === 502 && headerOf(got, 'x-stickyport-error') !== undefined;
    const relayed = got.kind === 'answer' && got.status === expected.status && got.body.toString('latin1') === expected.body;
    if (!refused && !relayed) {
      return `the first request got ${describeAnswer(got)}, expected ${expected.status} ${JSON.stringify(expected.body)} or a 502`;
    }
    if (!sameWrite) return undefined;
    if (!first.closed) {
      const problem = await nextAnswerIsOwn(first, route, `${key}-same`, 'the first answer');
      if (problem) return problem;
    }
  } finally {
    first.destroy();
  }
  const second = await WireConnection.open(proxy.ports[0]!);
  try {
    const next = await second.exchange(requestBytes('GET', `http://${hostile.authority}/fine/${key}-other`, hostile.authority), 'GET', DEADLINE_MS);
    return isFine(next, `${key}-other`) ? undefined : `another client of the port then got ${describeAnswer(next)}`;
  } finally {
    second.destroy();
  }
}
