// Issue 29's soak (docs/ERRORS.md "Serving under load"): `distillery serve` with dynamic batching, held at a fixed
// request rate (about 80 % of its peak) for a long run by autocannon; every request must succeed, and the server's
// resident memory (its /metrics process_resident_memory_bytes, sampled every 10 s) must stay flat after warm-up.
//
//   npm run build && node bench/serve_soak.mjs runs/demo/soft-t20.onnx --rate 9000 [--seconds 600] [--clients 64]
//
// Prints one JSON line per sample, then a summary line: requests, failures, RSS after warm-up (the first minute)
// and at the end, and the growth between them.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** @type {unknown} */ const loaded = require('autocannon');
const autocannon = /** @type {(options: Record<string, unknown>) => Promise<Result>} */ (loaded);

/**
 * @typedef {{ requests: { average: number, total: number }, latency: { p50: number, p99: number },
 *   errors: number, non2xx: number, timeouts: number }} Result
 */

/**
 * The value after `--name`, else the fallback.
 * @param {string} name
 * @param {string} fallback
 */
function arg(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && index + 1 < process.argv.length ? String(process.argv[index + 1]) : fallback;
}

const model = path.resolve(process.argv.slice(2).find((value) => value.endsWith('.onnx')) ?? '');
const rate = Number(arg('rate', '1000'));
const seconds = Number(arg('seconds', '600'));
const clients = Number(arg('clients', '64'));
const WARM_UP_S = 60;

const child = spawn(
  process.execPath,
  [path.join(ROOT, 'bin', 'distillery.js'), 'serve', model, '--port', '0', '--max-batch', '64', '--max-queue', '4096'],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
);
const base = await new Promise((/** @type {(url: string) => void} */ resolve, reject) => {
  let text = '';
  child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
    text += chunk.toString();
    const match = /listening on (http:\/\/\S+)/.exec(text);
    if (match?.[1]) resolve(match[1].replace(/\/$/, ''));
  });
  child.on('exit', (code) => reject(new Error(`serve exited with ${String(code)}`)));
});

const listed = /** @type {{ models: { name: string }[] }} */ (await (await fetch(`${base}/v1/models`)).json());
const name = listed.models[0]?.name ?? 'model';

/** The server's resident memory, in bytes, from its own /metrics. */
async function rss() {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** @type {{ second: number, rssMB: number }[]} */
const samples = [];
const started = performance.now();
const sampler = setInterval(() => {
  void rss().then((bytes) => {
    const sample = {
      second: Math.round((performance.now() - started) / 1000),
      rssMB: Number((bytes / 1e6).toFixed(1)),
    };
    samples.push(sample);
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  });
}, 10_000);

const row = Array.from({ length: 784 }, (_, index) => (index * 31) % 256);
const result = await autocannon({
  url: `${base}/v1/models/${name}/predict`,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ inputs: [row] }),
  connections: clients,
  overallRate: rate,
  duration: seconds,
});
clearInterval(sampler);
const warm = samples.find((sample) => sample.second >= WARM_UP_S) ?? samples[0];
const last = samples[samples.length - 1];
const growth = warm && last ? (last.rssMB - warm.rssMB) / warm.rssMB : NaN;
process.stdout.write(
  `${JSON.stringify({
    summary: true,
    seconds,
    rate,
    clients,
    requests: result.requests.total,
    rowsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.errors + result.non2xx + result.timeouts,
    rssAfterWarmUpMB: warm?.rssMB,
    rssAtEndMB: last?.rssMB,
    growth: Number((100 * growth).toFixed(2)),
  })}\n`,
);
child.kill('SIGTERM');
