// Every control character: C0, DEL and C1. JSON.stringify escapes C0 only, and a terminal showing
// a log line may act on the 8-bit CSI (U+009B) a client put in a header value just as on ESC [.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/** C0 controls and DEL: what no configured text value may hold (JSON's `\u0000` and environment variables can carry them). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** `text` with every control character written as \uXXXX: what reaches a log or a terminal is only text. */
export function inert(text: string): string {
  return text.replace(CONTROLS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A value a client sent, quoted for a message (and so for every log line and answer that
 * carries it): JSON's quoting, with DEL and C1 controls written as \uXXXX too.
 */
export function quoted(text: string): string {
  return inert(JSON.stringify(text));
}
