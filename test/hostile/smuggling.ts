import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedRequest, RequestRecorder } from '../helpers/request-recorder.js';
import type { RunningProxy } from '../helpers/stickyport.js';
import { smugglingCases, type Markers, type SmugglingCase } from './smuggling-cases.js';
import { describeAnswer, headerOf, WireConnection, type WireAnswer } from './wire.js';

/** One route under test: stickyport with one port per case (and a spare), and the recorder behind it. */
export interface SmugglingRoute {
  readonly proxy: RunningProxy;
  /** The upstream proxy (HTTP-upstream route) or the website (direct route); it holds `/smuggled-` answers. */
  readonly recorder: RequestRecorder;
  stop(): Promise<void>;
}

/** Holds the answer to a smuggled request until the next request on its upstream connection. */
export const SMUGGLED_PATH = /\/smuggled-/;
/** Ports the proxy needs: one per case, so each case has a session and upstream pool of its own. */
export const PORTS_NEEDED = smugglingCases().length + 1;
const DEADLINE_MS = 3_000;
const BATCH = 20;
/** What a proxy may answer a request it refuses to forward (400, or the more specific 4xx/5xx of RFC 9110/9112). */
const REFUSALS = new Set([400, 411, 413, 431, 501, 505]);

/**
 * The smuggling table against one route. Each case runs on its own port: an attacker sends the
 * case's bytes, then a second client of the same port sends a normal request on its own
 * connection. The judges: the recorder (nothing, or exactly the one attack request with the
 * body the proxy framed, one Host, and never the smuggled request) and the second client (its
 * own answer, never the smuggled one).
 */
export function describeSmuggling(routeName: string, start: () => Promise<SmugglingRoute>): void {
  describe(`request smuggling through the ${routeName} route`, () => {
    let route: SmugglingRoute;
    beforeAll(async () => {
      route = await start();
    });
    afterAll(() => route?.stop());

    const cases = smugglingCases();
    it(`${cases.length} cases: the upstream gets exactly what the proxy framed, or nothing; another client gets only its own answer`, async () => {
      const failures: string[] = [];
      for (let first = 0; first < cases.length; first += BATCH) {
        const batch = cases.slice(first, first + BATCH);
        const results = await Promise.all(batch.map((one, i) => runCase(route, one, first + i)));
        failures.push(...results.flat());
      }
      const spare = route.proxy.ports.at(-1)!;
      const health = await exchange(spare, `GET http://${route.recorder.authority}/health HTTP/1.1\r\nHost: ${route.recorder.authority}\r\n\r\n`, 'GET');
      if (!isEcho(health, 'GET', '/health')) failures.push(`a port no case touched answered a normal request with ${describeAnswer(health)}`);
      expect(failures).toEqual([]);
    }, 120_000);
  });
}

function markersFor(recorder: RequestRecorder, id: string): Markers {
  const authority = recorder.authority;
  return {
    authority,
    url: `http://${authority}/attack-${id}`,
    second: `http://${authority}/second-${id}`,
    smuggled: `GET /smuggled-${id} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`,
  };
}

async function exchange(port: number, bytes: string, method: string, keep?: (connection: WireConnection) => void): Promise<WireAnswer> {
  const connection = await WireConnection.open(port);
  const answer = await connection.exchange(bytes, method, DEADLINE_MS);
  if (keep) keep(connection);
  else connection.destroy();
  return answer;
}

/** The recorder's answer to a request whose target has the path `path` (X-Recorder-Echo: `<METHOD> <target>`). */
function isEcho(answer: WireAnswer, method: string, path: string): boolean {
  if (answer.kind !== 'answer' || answer.status !== 200) return false;
  const [echoMethod, target] = (headerOf(answer, 'x-recorder-echo') ?? '').split(' ');
  return echoMethod === method && target !== undefined && pathOf(target) === path;
}

function pathOf(target: string): string {
  return target.startsWith('/') ? target : target.replace(/^[a-z]+:\/\/[^/]*/i, '');
}

/** Runs one case on its own port; returns what went wrong. */
async function runCase(route: SmugglingRoute, one: SmugglingCase, index: number): Promise<string[]> {
  const id = `c${String(index).padStart(3, '0')}`;
  const port = route.proxy.ports[index]!;
  const m = markersFor(route.recorder, id);
  const problems: string[] = [];
  let attacker: WireConnection | undefined;
  try {
    const method = one.method ?? 'POST';
    const first = await exchange(port, one.bytes(m), method, (connection) => (attacker = connection));
    const answered = isEcho(first, method, `/attack-${id}`);
    if (answered && one.pipelined) {
      const second = await attacker!.read('GET', DEADLINE_MS);
      if (!isEcho(second, 'GET', `/second-${id}`)) problems.push(`the attacker's pipelined request got ${describeAnswer(second)}`);
    }
    const victim = await exchange(port, `GET http://${m.authority}/victim-${id} HTTP/1.1\r\nHost: ${m.authority}\r\n\r\n`, 'GET');
    if (!isEcho(victim, 'GET', `/victim-${id}`)) problems.push(`another client of the port got ${describeAnswer(victim)} instead of its own answer`);
    problems.push(...upstreamProblems(route.recorder, one, m, id, first, answered));
  } catch (error) {
    problems.push(`could not run: ${String(error)}`);
  } finally {
    attacker?.destroy();
  }
  return problems.map((problem) => `${one.name}: ${problem}`);
}

/**
 * What the recorder saw on the upstream connections that carried this case's requests, and
 * whether the attacker's first answer matches it. A request the proxy began to forward and then
 * aborted mid-body (the connection closed) counts as not received: the upstream discards it.
 */
function upstreamProblems(recorder: RequestRecorder, one: SmugglingCase, m: Markers, id: string, first: WireAnswer, answered: boolean): string[] {
  const problems: string[] = [];
  const connections = new Set(recorder.requests.filter((request) => request.url.includes(`-${id}`)).map((request) => request.connectionId));
  const seen = recorder.requests.filter((request) => connections.has(request.connectionId));
  const describe = (request: RecordedRequest): string => `${request.method} ${pathOf(request.url)} body ${JSON.stringify(request.body.toString('latin1').slice(0, 60))}`;

  for (const request of seen.filter((r) => pathOf(r.url) === `/smuggled-${id}`)) {
    problems.push(`the upstream received the smuggled request as a request of its own (${describe(request)}): the proxy's framing and the upstream's disagreed`);
  }
  for (const connection of connections) {
    for (const error of recorder.connections.get(connection)?.errors ?? []) {
      if (!/^HPE_/.test(error) || error.startsWith('HPE_INVALID_EOF_STATE')) continue;
      problems.push(`the upstream could not parse what the proxy sent (${error}): ${JSON.stringify(recorder.rawText(connection).slice(0, 300))}`);
    }
  }
  const attacks = seen.filter((r) => pathOf(r.url) === `/attack-${id}` && r.complete);
  if (attacks.length === 0) {
    if (first.kind !== 'answer' || !REFUSALS.has(first.status)) problems.push(`nothing went upstream, and the attacker got ${describeAnswer(first)}, not a refusal`);
    else if (one.mayRefuse === false) problems.push(`refused with ${describeAnswer(first)}, but the request is valid`);
    return problems;
  }
  if (attacks.length > 1) problems.push(`the upstream received ${attacks.length} attack requests, not 1`);
  if (!one.forwards) problems.push(`it must be refused (400), yet the upstream received ${attacks.map(describe).join(', ')}`);
  else {
    const bodies = one.forwards(m);
    const body = attacks[0]!.body.toString('latin1');
    if (!bodies.includes(body)) problems.push(`the upstream got the body ${JSON.stringify(body)}, not ${bodies.map((b) => JSON.stringify(b)).join(' or ')}`);
    const hosts = hostValues(attacks[0]!);
    if (hosts.length !== 1 || hosts[0] !== m.authority) problems.push(`the upstream got Host ${JSON.stringify(hosts)}, not the URI's authority ${m.authority}`);
  }
  if (!answered) {
    problems.push(
      `the request went upstream and was answered there, but the attacker's first answer was ${describeAnswer(first)} ` +
        '(the answer to a later pipelined request overtook it, or it was refused after being forwarded)',
    );
  }
  const expected = new Set([`/attack-${id}`, `/victim-${id}`, `/smuggled-${id}`, ...(one.pipelined ? [`/second-${id}`] : [])]);
  for (const request of seen.filter((r) => !expected.has(pathOf(r.url)))) {
    problems.push(`the upstream received an unexpected request ${describe(request)}`);
  }
  return problems;
}

function hostValues(request: RecordedRequest): string[] {
  const values: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() === 'host') values.push(request.rawHeaders[i + 1]!);
  }
  return values;
}
