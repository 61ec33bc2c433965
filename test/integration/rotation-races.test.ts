import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiJson, closed, request } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { connectRaw } from '../helpers/raw.js';
import { describeRedis, redisForSuite } from '../helpers/redis-server.js';
import { startStack, type Stack } from '../helpers/stack.js';

// Once /session/new has answered, nothing the client sends afterwards may reach the upstream
// with the old id, on any store, whatever else is in flight. The recording upstream is the
// judge; a request is judged by when the client sent it: one sent before the answer may still
// finish on the old id.

interface Rotation {
  readonly answeredAt: number;
  readonly id: string;
}

/** The ids a request sent at `sentAt` may carry: the last answered rotation's or a later one's. */
function allowedIds(rotations: Rotation[], sentAt: number): Set<string> | undefined {
  let last = -1;
  for (let i = 0; i < rotations.length; i++) if (rotations[i]!.answeredAt <= sentAt) last = i;
  return last < 0 ? undefined : new Set(rotations.slice(last).map((rotation) => rotation.id));
}

type StoreKind = 'memory' | 'file' | 'redis';

for (const kind of ['memory', 'file', 'redis'] as StoreKind[]) {
  const suite = kind === 'redis' ? describeRedis : describe;
  suite(`rotation is one step per port, ${kind === 'redis' ? 'Redis' : kind} store`, () => {
    const redis = kind === 'redis' ? redisForSuite() : undefined;
    let stack: Stack;
    let marker = 0;

    beforeAll(async () => {
      const store =
        kind === 'memory'
          ? { Type: 'memory' }
          : kind === 'file'
            ? { Type: 'file', Path: path.join(mkdtempSync(path.join(tmpdir(), 'stickyport-races-')), 'sessions.json') }
            : { Type: 'redis', RedisUrl: redis!.server.url, KeyPrefix: `races-${Date.now()}:` };
      stack = await startStack({ SessionStore: store, Logging: { Level: 'info' } }, { portCount: 4 });
    });
    afterAll(() => stack?.stop());

    const seenFor = (name: string) => stack.upstream.seen.find((entry) => entry.target.endsWith(`/${name}`));

    it('30 rotations against 64 concurrent keep-alive requests: nothing sent after an answer leaves with an older id', async () => {
      const port = stack.proxy.ports[0]!;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
      const sent: Array<{ name: string; sentAt: number }> = [];
      const rotations: Rotation[] = [];
      let rotating = true;
      const worker = async (): Promise<void> => {
        while (rotating) {
          const name = `race-${kind}-${++marker}`;
          sent.push({ name, sentAt: performance.now() });
          expect((await request(port, `${stack.origin.url}/${name}`, { agent })).status).toBe(200);
        }
      };
      try {
        const workers = Array.from({ length: 64 }, worker);
        for (let i = 0; i < 30; i++) {
          const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/new');
          rotations.push({ answeredAt: performance.now(), id });
        }
        rotating = false;
        await Promise.all(workers);
      } finally {
        agent.destroy();
      }
      let judged = 0;
      for (const { name, sentAt } of sent) {
        const allowed = allowedIds(rotations, sentAt);
        if (!allowed) continue;
        judged++;
        expect(allowed, `${name} sent after rotation, upstream saw ${seenFor(name)?.session}`).toContain(seenFor(name)?.session);
      }
      expect(judged).toBeGreaterThan(100);
    });

    it('a GET in flight on a pooled upstream connection finishes; nothing else uses that connection or the old id', async () => {
      const port = stack.proxy.ports[1]!;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // Warm the session's pool so the slow GET goes out on a reused upstream connection.
        expect((await request(port, `${stack.origin.url}/warm-${kind}`, { agent })).status).toBe(200);
        const oldId = seenFor(`warm-${kind}`)!.session!;
        const slow = request(port, `${stack.origin.url}/delay/300`, { agent });
        await eventually(() => stack.upstream.seen.some((entry) => entry.target.endsWith('/delay/300') && entry.session === oldId), 'the slow GET reached the upstream');
        const connectionsBefore = stack.upstream.openConnections();
        const { session_id: newId } = await apiJson<{ session_id: string }>(port, '/session/new');
        const answeredAt = performance.now();
        expect((await slow).body).toBe('late');
        expect((await request(port, `${stack.origin.url}/after-${kind}`, { agent })).status).toBe(200);
        expect(seenFor(`after-${kind}`)!.session).toBe(newId);
        expect(stack.upstream.seen.filter((entry) => entry.session === oldId && entry.at > answeredAt)).toEqual([]);
        // The old session's connection closes once its answer is done.
        await eventually(() => stack.upstream.openConnections() < connectionsBefore + 1, 'the old pooled connection closed');
      } finally {
        agent.destroy();
      }
    });

    it('/session/new pipelined with a GET on one connection: the GET leaves with the new id', async () => {
      const socket = await connectRaw(stack.proxy.ports[2]!);
      const name = `piped-${kind}`;
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.write(
        `GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n` +
          `GET ${stack.origin.url}/${name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      await closed(socket);
      const id = /"session_id":"([^"]+)"/.exec(text)?.[1];
      expect(id).toBeDefined();
      expect(text).toContain('hello');
      expect(seenFor(name)!.session).toBe(id);
    });

    it('/session/new pipelined with a CONNECT: the tunnel opens on the new id and the next rotation closes it', async () => {
      const port = stack.proxy.ports[3]!;
      const socket = await connectRaw(port);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.write(
        `GET http://portmapper/session/new HTTP/1.1\r\nHost: portmapper\r\n\r\n` +
          `CONNECT 127.0.0.1:${stack.origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      await eventually(() => text.includes('200 Connection Established'), 'the tunnel opened');
      const id = /"session_id":"([^"]+)"/.exec(text)?.[1];
      const tunnelSeen = stack.upstream.seen.filter((entry) => entry.kind === 'connect').at(-1)!;
      expect(tunnelSeen.session).toBe(id);
      // The API answer comes first, then the tunnel's: in the order the requests were sent.
      expect(text.indexOf('session_id')).toBeLessThan(text.indexOf('200 Connection Established'));
      await apiJson(port, '/session/new');
      await closed(socket);
    });

    it("a client's kept-alive connection survives a rotation and its next requests leave with the new id", async () => {
      const port = stack.proxy.ports[0]!;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set<unknown>();
      const get = (url: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port, path: url, agent }, (res) => {
            sockets.add(res.socket);
            let body = '';
            res.on('data', (chunk: Buffer) => (body += chunk.toString()));
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
        });
      try {
        await get(`${stack.origin.url}/ka-before-${kind}`);
        // The rotation is asked for on another connection, as a controlling script would.
        const { session_id: id } = await apiJson<{ session_id: string }>(port, '/session/new');
        for (let i = 0; i < 5; i++) expect(await get(`${stack.origin.url}/ka-${kind}-${i}`)).toBe('hello');
        expect(sockets.size).toBe(1);
        for (let i = 0; i < 5; i++) expect(seenFor(`ka-${kind}-${i}`)!.session).toBe(id);
      } finally {
        agent.destroy();
      }
    });
  });
}
