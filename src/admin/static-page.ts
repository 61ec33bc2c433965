import { readFile } from 'node:fs/promises';
import type http from 'node:http';

// The status page's files live in the repository (src/admin/page/) as they are served: no
// bundler, no CDN, nothing fetched from elsewhere. `npm run build` copies them beside the
// compiled code (dist/admin/page/), which is what the package ships.
const PAGE_DIR = new URL('./page/', import.meta.url);

const FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

// The page loads only its own files and talks only to this server.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function isPageFile(path: string): boolean {
  return Object.hasOwn(FILES, path);
}

/** Serves one of the page's files (read on each request: the page is small and rarely loaded). */
export async function servePageFile(path: string, response: http.ServerResponse, head: boolean): Promise<void> {
  const { file, type } = FILES[path]!;
  const body = await readFile(new URL(file, PAGE_DIR));
  response.writeHead(200, { 'content-type': type, 'content-length': body.length, ...SECURITY_HEADERS });
  response.end(head ? undefined : body);
}
