// Dynamic batching in process (issue 29), no HTTP: rows/s of 64 concurrent callers through `model.batcher()` against
// one caller awaiting `model.predict` in a loop (what a server without batching does per request, one run each), on
// one OnnxModel. Also, for context: the same 64 callers on `model.predict` directly (concurrent runs on one session),
// and `predictBatch` of 64 rows back to back (the ceiling: no queueing, no per-call promises).
// Modes alternate block by block (A, B, C, … A, B, C, …), so a drift of the shared machine hits every mode alike;
// the summary takes each mode's median block.
//
//   npm run build && OMP_NUM_THREADS=1 node bench/batcher.mjs [--model models/mnist-student.onnx] [--threads 1]
//     [--callers 64] [--max-batch 64] [--max-delay-ms 2] [--blocks 5] [--block-ms 1000]
//
// Prints one JSON line per block, then one summary line. Loads only dist/runtime (no Python, no engine).
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/**
 * The value after `--name` on the command line, else the fallback.
 * @param {string} name
 * @param {string} fallback
 */
function arg(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && index + 1 < process.argv.length ? String(process.argv[index + 1]) : fallback;
}

const modelFile = path.resolve(ROOT, arg('model', 'models/mnist-student.onnx'));
const threads = Number(arg('threads', '1'));
const callers = Number(arg('callers', '64'));
const maxBatch = Number(arg('max-batch', '64'));
const maxDelayMs = Number(arg('max-delay-ms', '2'));
const blocks = Number(arg('blocks', '5'));
const blockMs = Number(arg('block-ms', '1000'));

/** @type {unknown} */ const loaded = require(path.join(ROOT, 'dist', 'runtime', 'index.js')); // `require` returns `any`
const runtime = /** @type {typeof import('../src/runtime/index.js')} */ (loaded);
const model = await runtime.OnnxModel.load(modelFile, { threads });
const features = model.info.input.shape.reduce((a, b) => a * b, 1);

/** 256 distinct raw inputs (pixel-like 0-255 values), reused in turn: the values do not change the work. */
const inputs = Array.from({ length: 256 }, (_, seed) =>
  Float32Array.from({ length: features }, (_, index) => (index * 31 + seed * 17) % 256),
);

// Count the batcher's runs and their rows: the instance's predictBatch, wrapped (the batcher calls it through the model).
let runs = 0;
let runRows = 0;
const predictBatch = model.predictBatch.bind(model);
/** @param {import('../src/runtime/index.js').Batch} batch */
model.predictBatch = (batch) => {
  runs += 1;
  runRows += Array.isArray(batch) ? batch.length : 0;
  return predictBatch(batch);
};

/**
 * `count` callers, each calling `call(input)` again as soon as it is answered, until `ms` have passed.
 * @param {number} count
 * @param {(input: Float32Array) => Promise<unknown>} call
 * @param {number} ms
 */
async function callersFor(count, call, ms) {
  /** @type {number[]} */
  const latencies = [];
  const end = performance.now() + ms;
  let next = 0;
  const caller = async () => {
    while (performance.now() < end) {
      const input = /** @type {Float32Array} */ (inputs[next++ % inputs.length]);
      const started = performance.now();
      await call(input);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: count }, caller));
  return { rows: latencies.length, seconds: (performance.now() - started) / 1000, latencies };
}

/**
 * `predictBatch` of `callers` rows back to back.
 * @param {number} ms
 */
async function batchesFor(ms) {
  const batch = Array.from(
    { length: callers },
    (_, index) => /** @type {Float32Array} */ (inputs[index % inputs.length]),
  );
  const end = performance.now() + ms;
  const started = performance.now();
  let rows = 0;
  while (performance.now() < end) {
    await predictBatch(batch);
    rows += batch.length;
  }
  return { rows, seconds: (performance.now() - started) / 1000, latencies: /** @type {number[]} */ ([]) };
}

/**
 * JSON.stringify's replacer: fractions to 3 decimals, so that lines stay readable.
 * @param {string} _key
 * @param {unknown} value
 * @returns {unknown}
 */
const rounded = (_key, value) => (typeof value === 'number' && !Number.isInteger(value) ? +value.toFixed(3) : value);

/** @param {number[]} values @param {number} q */
function quantile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const batcher = model.batcher({ maxBatch, maxDelayMs, maxQueue: Math.max(1024, callers) });
const modes = {
  sequential: () => callersFor(1, (input) => model.predict(input), blockMs),
  batcher: () => callersFor(callers, (input) => batcher.predict(input), blockMs),
  concurrentPredict: () => callersFor(callers, (input) => model.predict(input), blockMs),
  predictBatch: () => batchesFor(blockMs),
};

// Warm-up, one block per mode, discarded: the first runs allocate the session's arenas for each batch size.
for (const run of Object.values(modes)) await run();

/** @type {Record<string, number[]>} */
const rowsPerSecond = Object.fromEntries(Object.keys(modes).map((mode) => [mode, []]));
/** @type {Record<string, number[]>} */
const p99s = Object.fromEntries(Object.keys(modes).map((mode) => [mode, []]));
for (let block = 0; block < blocks; block++) {
  for (const [mode, run] of Object.entries(modes)) {
    runs = 0;
    runRows = 0;
    const result = await run();
    const rate = result.rows / result.seconds;
    rowsPerSecond[mode]?.push(rate);
    const p50 = quantile(result.latencies, 0.5);
    const p99 = quantile(result.latencies, 0.99);
    if (p99 !== null) p99s[mode]?.push(p99);
    const line = { block, mode, rowsPerSecond: Math.round(rate), p50Ms: p50, p99Ms: p99 };
    if (mode === 'batcher') Object.assign(line, { runs, meanBatch: runs > 0 ? +(runRows / runs).toFixed(1) : null });
    console.log(JSON.stringify(line, rounded));
  }
}
await batcher.close();
await model.close();

/** @param {number[]} values */
const median = (values) => quantile(values, 0.5);
const summary = {
  summary: true,
  model: path.relative(ROOT, modelFile),
  threads,
  ompNumThreads: process.env.OMP_NUM_THREADS ?? null,
  callers,
  maxBatch,
  maxDelayMs,
  blocks,
  blockMs,
  rowsPerSecond: Object.fromEntries(
    Object.entries(rowsPerSecond).map(([mode, rates]) => [mode, Math.round(median(rates) ?? 0)]),
  ),
  p99Ms: Object.fromEntries(
    Object.entries(p99s)
      .filter(([, values]) => values.length > 0)
      .map(([mode, values]) => [mode, +(median(values) ?? 0).toFixed(2)]),
  ),
  batcherOverSequential: +(
    (median(rowsPerSecond.batcher ?? []) ?? 0) / (median(rowsPerSecond.sequential ?? []) ?? 1)
  ).toFixed(2),
  batcherOverConcurrentPredict: +(
    (median(rowsPerSecond.batcher ?? []) ?? 0) / (median(rowsPerSecond.concurrentPredict ?? []) ?? 1)
  ).toFixed(2),
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  loadavg: os.loadavg().map((v) => +v.toFixed(2)),
};
console.log(JSON.stringify(summary));
