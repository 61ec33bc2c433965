import type http from 'node:http';
import { parseBasic, proxyAuthorization, Secret, type LoginPolicy } from '../auth/client-auth.js';
import { upToFragment } from '../proxy/http-target.js';
import { lingerOnClose, whenBodyKnown } from '../proxy/ordered-answers.js';
import type { ApiAnswer, ApiCall } from './session-api.js';

export interface ApiGatewayOptions {
  /** Virtual host; '' = relative `/session...` requests made to the port itself. */
  readonly domain: string;
  /** SessionAPI.Password; '' = none. */
  readonly password: string;
  /** The client login of the mapping `port` belongs to. */
  readonly loginFor: (port: number) => LoginPolicy;
  /**
   * Listen.IdleTimeout: an answer given before its request's body was read closes the
   * connection, this long after it at the latest.
   */
  readonly closeDeadlineMs: number;
}

/**
 * Recognises session API requests among proxy requests and answers them over HTTP. These
 * requests never reach an upstream.
 */
export class ApiGateway {
  private readonly password: Secret | undefined;

  constructor(
    private readonly api: (call: ApiCall) => Promise<ApiAnswer>,
    private readonly options: ApiGatewayOptions,
  ) {
    this.password = options.password ? new Secret(options.password) : undefined;
  }

  /** True for a CONNECT to the API's virtual host, which it cannot answer. */
  isApiHost(hostname: string): boolean {
    return namesDomain(this.options.domain, hostname);
  }

  /** The API's own host, as a request names it when it asks the API. */
  get domain(): string {
    return this.options.domain;
  }

  /** The path and query of an API request, or undefined when `url` is not one. */
  match(url: string): string | undefined {
    const { domain } = this.options;
    if (domain === '') return url.startsWith('/session') ? upToFragment(url) : undefined;
    if (!url.startsWith('http://') && url.slice(0, 7).toLowerCase() !== 'http://') return undefined;
    let end = 7;
    while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
    // Every proxied request passes here: most are told apart by length, without a copy.
    const length = end - 7;
    if (length !== domain.length && length !== domain.length + 3) return undefined;
    const authority = url.slice(7, end).toLowerCase();
    if (authority !== domain && authority !== `${domain}:80`) return undefined;
    const rest = upToFragment(url, end);
    return rest === '' || rest[0] === '?' ? `/${rest}` : rest;
  }

  /**
   * Answers an API request that arrived on the listener of `port`. `login` is the client's proxy
   * login: its Proxy-Authorization header, or what a SOCKS5 client logged in with.
   */
  async answer(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    pathAndQuery: string,
    port: number,
    login: { username: string; password: string } | undefined = parseBasic(proxyAuthorization(request)),
  ): Promise<void> {
    if (madeByWebPage(request.headers)) {
      this.write(response, { status: 403, body: { error: 'cross_site', message: CROSS_SITE } });
      return;
    }
    const policy = this.options.loginFor(port);
    const loginMatches = policy.matchesLogin(login);
    if (policy.required && !loginMatches) {
      this.write(response, {
        status: 407,
        body: { error: 'proxy_auth_required', message: 'proxy login required' },
        headers: { 'proxy-authenticate': 'Basic realm="stickyport"' },
      });
      return;
    }
    const query = pathAndQuery.indexOf('?');
    const path = query < 0 ? pathAndQuery : pathAndQuery.slice(0, query);
    const search = new URLSearchParams(query < 0 ? '' : pathAndQuery.slice(query + 1));
    const pwd = search.get('pwd');
    const authorized = this.password === undefined || (pwd !== null && this.password.matches(pwd)) || loginMatches;
    const answer = await this.api({
      method: request.method ?? 'GET',
      path,
      port,
      authorized,
      query: search,
      client: request.socket.remoteAddress,
      portHasLogin: policy.hasLogin,
    });
    this.write(response, answer);
  }

  private write(response: http.ServerResponse, answer: ApiAnswer): void {
    // An API call carries no body it reads: one still coming (a `Content-Length: 100000` sent a
    // byte at a time) would keep the connection, and its slot, for as long as it trickles. The
    // answer closes the connection instead, at a fixed deadline, as any early answer does.
    whenBodyKnown(response.req, (bodyUnread) => this.writeNow(response, answer, bodyUnread));
  }

  private writeNow(response: http.ServerResponse, answer: ApiAnswer, bodyUnread: boolean): void {
    // A stop's drain answered 503 while this answer was being worked out (or the client left).
    if (response.headersSent || response.destroyed) return;
    if (bodyUnread) {
      response.shouldKeepAlive = false;
      lingerOnClose(response, this.options.closeDeadlineMs);
    }
    const body = JSON.stringify(answer.body);
    response.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...answer.headers,
    });
    response.end(body);
  }
}

const CROSS_SITE =
  'the session API does not answer a request a web page made (it carries Sec-Fetch-Site, Origin or Referer): call it from a script, curl, or the address bar';

/**
 * A request that shows a web page made the browser send it (an image, a form, a fetch, a link):
 * Sec-Fetch-Site other than `none`, an Origin, a Referer. Any page seen through a port could
 * otherwise rotate it or set its parameters. What a user types in the address bar carries none
 * of them, nor do scripts and curl. Not a wall (README): browsers send Sec-Fetch-* only to
 * secure or loopback hosts, not to `portmapper`, and a page may send no referrer; the API
 * password is what keeps pages out.
 */
function madeByWebPage(headers: http.IncomingHttpHeaders): boolean {
  const site = headers['sec-fetch-site'];
  return (site !== undefined && site !== 'none') || headers.origin !== undefined || headers.referer !== undefined;
}

/** Why a request for the API's `domain` is refused while the API is off (never sent upstream). */
export function apiOffMessage(domain: string): string {
  return `the session API is off (SessionAPI.Enabled; --session-api turns it on): nothing for ${domain} is sent upstream`;
}

/** Whether `hostname` names the API's `domain`: in any case, and with the root's trailing dot (`portmapper.` names the same host). */
export function namesDomain(domain: string, hostname: string): boolean {
  if (domain === '' || (hostname.length !== domain.length && hostname.length !== domain.length + 1)) return false;
  const lower = hostname.toLowerCase();
  return lower === domain || lower === `${domain}.`;
}
