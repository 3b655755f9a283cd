// Issue 29's figures under load (docs/BENCHMARKS.md "Serving under load"): rows/s and p50/p99 latency at 1, 16, 64
// and 256 concurrent clients (autocannon, one row per request), for each model, side by side in one run:
//   anchor      bench/serve_anchor.mjs: node:http and a raw InferenceSession, no batching
//   serve-off   `distillery serve --max-batch 1` (every request its own run)
//   serve-on    `distillery serve --max-batch 64 --max-delay-ms 2` (dynamic batching; an idle model runs at once)
//   serve-window  the same with `--wait-when-idle` (a fixed 2 ms window, the batcher's behaviour before the default
//               changed: every batch waits maxDelayMs, even a lone request's)
// Each server runs in its own process with the runtime's default session threads (min(4, cores)); the load
// generator runs in this one, on the same machine. `--server-cpus 0` pins each server to those CPUs (taskset), so
// that, run as `taskset -c 1 node bench/serve_load.mjs … --server-cpus 0`, the generator and the server never share a
// core (each server then has the threads of its CPUs, as has the anchor).
//
//   npm run build && node bench/serve_load.mjs runs/demo/soft-t20.onnx runs/demo/mimic-bottleneck.onnx
//     [--duration 5] [--clients 1,16,64,256] [--modes anchor,serve-off,serve-on,serve-window] [--server-cpus 0]
//
// Prints one JSON line per cell. The models are MNIST students (one sample: 28 × 28 raw pixels).
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** @type {unknown} */ const loaded = require('autocannon');
const autocannon = /** @type {(options: Record<string, unknown>) => Promise<AutocannonResult>} */ (loaded);

/**
 * @typedef {{ requests: { average: number }, latency: { p50: number, p99: number }, errors: number, non2xx: number }} AutocannonResult
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

const models = process.argv.slice(2).filter((value) => value.endsWith('.onnx'));
const duration = Number(arg('duration', '5'));
const clients = arg('clients', '1,16,64,256').split(',').map(Number);
const modes = arg('modes', 'anchor,serve-off,serve-on,serve-window').split(',');
const serverCpus = arg('server-cpus', '');
/** The servers' session threads: the runtime's default for the CPUs they run on. */
const threads = String(Math.max(1, Math.min(4, serverCpus === '' ? os.availableParallelism() : cpuCount(serverCpus))));
const CLI = path.join(ROOT, 'bin', 'distillery.js');

/**
 * `distillery serve` with dynamic batching.
 * @param {string} model
 */
function batchingServer(model) {
  return [CLI, 'serve', model, '--port', '0', '--max-batch', '64', '--max-delay-ms', '2', '--max-queue', '4096'];
}

/** How each mode's server is started, for a model file. @type {Record<string, (model: string) => string[]>} */
const SERVERS = {
  anchor: (model) => [path.join(ROOT, 'bench', 'serve_anchor.mjs'), model, '--threads', threads, '--shape', '28,28'],
  'serve-off': (model) => [CLI, 'serve', model, '--port', '0', '--max-batch', '1', '--max-queue', '4096'],
  'serve-on': batchingServer,
  'serve-window': (model) => [...batchingServer(model), '--wait-when-idle'],
};

/**
 * How many CPUs a taskset list names (`0`, `0,2`, `0-3`).
 * @param {string} list
 */
function cpuCount(list) {
  return list.split(',').reduce((sum, part) => {
    const [from, to] = part.split('-').map(Number);
    return sum + (to === undefined ? 1 : to - (from ?? to) + 1);
  }, 0);
}

/**
 * Starts a server process; resolves its URL once it says it listens.
 * @param {string[]} args
 * @returns {Promise<{ url: string, stop: () => Promise<void> }>}
 */
function start(args) {
  const [command, commandArgs] =
    serverCpus === '' ? [process.execPath, args] : ['taskset', ['-c', serverCpus, process.execPath, ...args]];
  const child = spawn(command, commandArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (/** @type {Buffer} */ chunk) => {
      text += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (!match?.[1]) return;
      const stop = () =>
        new Promise((/** @type {(value: void) => void} */ done) => {
          child.on('exit', () => done());
          child.kill('SIGTERM');
        });
      resolve({ url: match[1].replace(/\/$/, ''), stop });
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${String(code)}`)));
  });
}

/**
 * One autocannon run: POSTs of `body` over `connections` connections for `duration` seconds.
 * @param {string} url
 * @param {string} body
 * @param {number} connections
 */
async function load(url, body, connections) {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration,
  });
  return {
    rowsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    failed: result.errors + result.non2xx,
  };
}

const row = Array.from({ length: 784 }, (_, index) => (index * 31) % 256); // raw pixels: the values do not change the work
const body = JSON.stringify({ inputs: [row] });
for (const model of models) {
  for (const mode of modes) {
    const argsOf = SERVERS[mode];
    if (argsOf === undefined) throw new Error(`unknown mode ${mode} (${Object.keys(SERVERS).join(', ')})`);
    const server = await start(argsOf(path.resolve(model)));
    try {
      // The served model's name is in the URL; the anchor takes any name.
      const name =
        mode === 'anchor'
          ? 'model'
          : (/** @type {{ models: { name: string }[] }} */ (await (await fetch(`${server.url}/v1/models`)).json())
              .models[0]?.name ?? 'model');
      const url = `${server.url}/v1/models/${name}/predict`;
      await load(url, body, 16); // warm-up, not reported
      for (const connections of clients) {
        const figures = await load(url, body, connections);
        const cell = { model: path.basename(model), mode, clients: connections, ...figures };
        process.stdout.write(`${JSON.stringify(cell)}\n`);
      }
    } finally {
      await server.stop();
    }
  }
}
