import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWithAdmin, type AdminClient } from '../helpers/admin.js';
import type { RunningProxy } from '../helpers/stickyport.js';

// A POST is judged by its path and method before its body is read: a path that answers GET only
// is a 405 with Allow, an unknown path a 404, whatever the body (an adversarial pass got 400
// bad_json and 413 for them, since every POST body was read first).

let proxy: RunningProxy & { admin: AdminClient };
beforeAll(async () => {
  proxy = await startWithAdmin({}, { portCount: 1 });
});
afterAll(() => proxy?.stop());

const BIG = 70 * 1024;

/**
 * A POST of `body`; for BIG, the head announces 70 KiB and only the first KiB is sent, as a
 * client still sending would (the answer comes before the rest, which is never sent).
 */
function post(path: string, body: string | typeof BIG): Promise<{ status: number; allow: string | undefined; error: string }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', ...(body === BIG ? { 'content-length': BIG } : {}) };
    const request = http.request({ host: '127.0.0.1', port: proxy.admin.port, method: 'POST', path, agent: false, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode!, allow: response.headers.allow, error: (JSON.parse(text) as { error: string }).error });
        request.destroy();
      });
    });
    request.on('error', reject);
    if (body === BIG) request.write('x'.repeat(1024));
    else request.end(body);
  });
}

it.each([
  ['/api/summary', '{', 405, 'GET'],
  ['/api/requests', BIG, 405, 'GET'],
  ['PORT', '{', 405, 'GET'],
  ['/nope', '{', 404, undefined],
  ['/nope', BIG, 404, undefined],
] as Array<[string, string | typeof BIG, number, string | undefined]>)('POST %s with a bad body (case %#)', async (path, body, status, allow) => {
  const target = path === 'PORT' ? `/api/ports/${proxy.ports[0]}` : path;
  const answer = await post(target, body);
  expect(answer.status).toBe(status);
  expect(answer.allow).toBe(allow);
  expect(answer.error).toBe(status === 405 ? 'method_not_allowed' : 'not_found');
});

it('a path that takes a POST still reads and judges its body', async () => {
  expect(await post('/api/sessions/new', '{')).toMatchObject({ status: 400, error: 'bad_json' });
  expect(await post(`/api/ports/${proxy.ports[0]}/new`, BIG)).toMatchObject({ status: 413, error: 'body_too_large' });
});
