import type { PresetName } from '../../src/upstream/presets.js';

/** The id, lifetime and parameters the preset cases are rendered with. */
export const PRESET_VARS = { session: 'AbCdEfGh', port: 10201, lifetimeMs: 30 * 60_000, params: { country: 'de', state: '', city: 'berlin' } };

/**
 * Per preset: the account as its dashboard shows it, then, for PRESET_VARS and the password "pw",
 * the user name and password it renders (as the README documents them) and its main gateway.
 */
export const DOCUMENTED: ReadonlyArray<[preset: PresetName, account: string, username: string, password: string, gateway: string]> = [
  ['brightdata', 'brd-customer-hl_1234-zone-residential', 'brd-customer-hl_1234-zone-residential-country-de-city-berlin-session-AbCdEfGh', 'pw', 'brd.superproxy.io:33335'],
  ['oxylabs', 'acme', 'customer-acme-cc-DE-city-berlin-sessid-AbCdEfGh-sesstime-30', 'pw', 'pr.oxylabs.io:7777'],
  ['decodo', 'spacme', 'user-spacme-country-de-city-berlin-session-AbCdEfGh-sessionduration-30', 'pw', 'gate.decodo.com:7000'],
  ['iproyal', 'acme', 'acme', 'pw_country-de_city-berlin_session-AbCdEfGh_lifetime-30m', 'geo.iproyal.com:12321'],
  ['soax', '123456', 'package-123456-country-de-city-berlin-sessionid-AbCdEfGh-sessionlength-1800', 'pw', 'proxy.soax.com:5000'],
];
