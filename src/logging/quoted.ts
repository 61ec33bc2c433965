// JSON.stringify escapes C0 controls, not DEL or the C1 ones: a terminal showing a log line may
// act on the 8-bit CSI (U+009B) a client put in a header value just as on ESC [.
const UNESCAPED_CONTROLS = /[\u007f-\u009f]/g;

/**
 * A value a client sent, quoted for a message (and so for every log line and answer that
 * carries it): JSON's quoting, with DEL and C1 controls written as \uXXXX too.
 */
export function quoted(text: string): string {
  return JSON.stringify(text).replace(UNESCAPED_CONTROLS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
