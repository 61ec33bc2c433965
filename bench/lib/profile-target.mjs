// Runs a bench server script outside fork() (for `node --cpu-prof`): prints its port on stdout
// and exits cleanly on SIGTERM so that the profile gets written.
// Usage: node [--cpu-prof] profile-target.mjs SCRIPT ARGS...
const [script, ...args] = process.argv.slice(2);
process.argv = [process.argv[0], script, ...args];
process.send = (message) => {
  if (message?.ready) process.stdout.write(`${message.port}\n`);
  return true;
};
process.once('SIGTERM', () => process.exit(0));
await import(new URL(script, import.meta.url).href);
