import { isExitAddress } from '../session/session.js';

/** What an echo answer says about the caller. */
export interface EchoedIdentity {
  readonly ip: string;
  /** ISO 3166 alpha-2, upper case. */
  readonly country?: string;
}

// Where services put the two-letter code: ipwho.is and ipapi.co `country_code`, ifconfig.co
// `country_iso`, ip-api.com `countryCode`, ipinfo.io `country`.
const COUNTRY_FIELDS = ['country_code', 'country_iso', 'countryCode', 'country'];
const TWO_LETTERS = /^[A-Za-z]{2}$/;

/**
 * Reads an echo URL's answer body: plain text holding one IP address (api.ipify.org,
 * icanhazip.com, ifconfig.co, checkip.amazonaws.com; surrounding white space ignored), or a
 * JSON object with an `ip` field (api.ipify.org?format=json, ifconfig.co/json, ipinfo.io/json,
 * ipwho.is), where a two-letter country code is taken too. Anything else is a problem, named
 * without quoting more than a few characters of what came back.
 */
export function parseEchoAnswer(body: string): EchoedIdentity | { readonly problem: string } {
  const text = body.trim();
  if (text.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { problem: 'answered something that starts like JSON but is not JSON' };
    }
    const record = json as Record<string, unknown>;
    const ip = typeof record.ip === 'string' ? unbracket(record.ip.trim()) : undefined;
    if (ip === undefined || !isExitAddress(ip)) return { problem: 'answered JSON without an IP address in "ip"' };
    const country = COUNTRY_FIELDS.map((field) => record[field]).find((value): value is string => typeof value === 'string' && TWO_LETTERS.test(value));
    return country ? { ip, country: country.toUpperCase() } : { ip };
  }
  const ip = unbracket(text);
  if (isExitAddress(ip)) return { ip };
  return { problem: `answered ${describe(text)}, which is neither an IP address nor JSON with an "ip" field` };
}

function unbracket(text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
}

function describe(text: string): string {
  if (text === '') return 'nothing';
  const shown = text.slice(0, 24).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 24 ? `"${shown}..." (${text.length} characters)` : `"${shown}"`;
}
