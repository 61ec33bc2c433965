import { CONFIG_FLAGS } from '../config/flags.js';

interface HelpRow {
  readonly left: string;
  readonly text: string;
}

function rows(list: readonly HelpRow[]): string {
  const width = Math.max(...list.map((row) => row.left.length)) + 2;
  return list
    .map((row) => {
      const [first, ...more] = row.text.split('\n');
      const indent = ' '.repeat(width + 2);
      return [`  ${row.left.padEnd(width)}${first}`, ...more.map((line) => `${indent}${line}`)].join('\n');
    })
    .join('\n');
}

/** The text of `stickyport --help`: every option, the layers in order, two examples. */
export function helpText(version: string): string {
  const options: HelpRow[] = [
    ...CONFIG_FLAGS.map((flag) => ({
      left: `--${flag.name}${flag.valueName ? ` ${flag.valueName}` : ''}`,
      text: `${flag.keys}: ${flag.help}`,
    })),
    { left: '-c, --config FILE', text: 'a settings file like appsettings.json, applied after the environment' },
    { left: '-h, --help', text: 'print this help' },
    { left: '-v, --version', text: 'print the version' },
  ];
  return `stickyport ${version}: a local port-mapping forward proxy, one sticky upstream session per port

Usage:
  stickyport [options]          start the proxy
  stickyport check [options]    check the configuration and print it, each value with its origin
                                (secrets masked); exit 0 when valid, 2 when not

Options:
${rows(options)}

Configuration layers, a later one wins over an earlier one:
  1. built-in defaults              4. STICKYPORT_* environment variables
  2. ./appsettings.json             5. the --config FILE
  3. ./appsettings.$NODE_ENV.json   6. the flags above
Every key and its variable are in the README; \`stickyport check\` shows where each value came from.
A password given in a flag can be seen by other users of this machine (ps): for a real one, use
STICKYPORT_UPSTREAM_URL or a settings file.

Examples:
  stickyport --ports 10201-10210 --upstream 'http://user-session-{session}:pw@gate.example:7777'
  stickyport check --config my.json --ports 20000-20099
`;
}
