// autocannon in its own process (the fallback when wrk is not installed), so the load generator
// never shares an event loop with anything else. Usage: autocannon-run.mjs '<json options>'
// Prints one "BENCH_JSON {...}" line shaped like the wrk script's (latency in microseconds).
import autocannon from 'autocannon';

const { port, path, host, auth, connections, durationS } = JSON.parse(process.argv[2]);
const headers = { host };
if (auth) headers['proxy-authorization'] = auth;
// autocannon's histogram keeps whole milliseconds: record the exact response times ourselves.
const samples = connections === 1 ? [] : undefined;
const instance = autocannon(
  { url: `http://127.0.0.1:${port}`, connections, duration: durationS, timeout: 5, requests: [{ method: 'GET', path, headers }] },
  (error, result) => {
    if (error) throw error;
    const pct = (p) => {
      if (samples?.length) {
        samples.sort((a, b) => a - b);
        return Math.round(samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] * 1000);
      }
      return Math.round((p === 50 ? result.latency.p50 : result.latency.p99) * 1000);
    };
    const out = {
      requests: result.requests.total,
      duration_us: Math.round(result.duration * 1e6),
      bytes: result.throughput.total,
      connect_errors: 0,
      read_errors: result.errors - result.timeouts,
      write_errors: 0,
      status_errors: result.non2xx,
      timeouts: result.timeouts,
      p50_us: pct(50),
      p99_us: pct(99),
      mean_us: result.latency.mean * 1000,
    };
    process.stdout.write(`BENCH_JSON ${JSON.stringify(out)}\n`);
  },
);
if (samples) instance.on('response', (_client, _status, _bytes, ms) => samples.push(ms));
