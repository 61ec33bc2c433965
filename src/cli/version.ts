import { readFileSync } from 'node:fs';

/**
 * The version in package.json, which sits two folders up from both src/cli and dist/cli: in the
 * repository, in the npm package and in the Docker image alike.
 */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
