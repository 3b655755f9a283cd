// onnxruntime-node session options, chosen by measurement: raw session.run of one model under each candidate
// (graph optimisation level, CPU memory arena, memory pattern, intra-op threads, spinning), single-row p50 and
// batch-256 rows/s, all candidates in interleaved rounds so that a load change hits them alike.
//
//   node scripts/bootstrap.js && node bench/session_options.mjs [--model runs/demo/soft-t20.onnx] [--rounds 3] [--block-ms 300]
//
// The runtime's choice (src/runtime/session.ts: sessionOptions) is the row marked "runtime".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OUT, ROOT, arg, dist, fmt, median, onnxruntime, table, writeJson } from './lib.mjs';

/** @typedef {import('onnxruntime-node').InferenceSession} InferenceSession */
/** @typedef {import('onnxruntime-node').InferenceSession.SessionOptions} SessionOptions */

const modelFile = path.resolve(arg('model', path.join(OUT, 'demo', 'soft-t20.onnx')));
if (!fs.existsSync(modelFile)) {
  console.error(`${modelFile} not found: pass --model`);
  process.exit(2);
}
const rounds = Number(arg('rounds', '3'));
const blockMs = Number(arg('block-ms', '300'));
const ort = onnxruntime();
const { sessionOptions } = dist('runtime/session.js');
const { OnnxModel } = dist('runtime/index.js');
const info = (await OnnxModel.load(modelFile, { threads: 1 })).info;
const features = info.input.shape.reduce((a, b) => a * b, 1);

/** @type {SessionOptions} */
const base = { executionProviders: ['cpu'], executionMode: 'sequential', interOpNumThreads: 1, logSeverityLevel: 3 };
/** @type {[name: string, options: SessionOptions][]} */
const candidates = [
  ['runtime (1 thread)', sessionOptions(1)],
  [
    'opt all, arena, pattern',
    { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: true },
  ],
  [
    'opt extended',
    {
      ...base,
      graphOptimizationLevel: 'extended',
      intraOpNumThreads: 1,
      enableCpuMemArena: true,
      enableMemPattern: true,
    },
  ],
  [
    'opt basic',
    { ...base, graphOptimizationLevel: 'basic', intraOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: true },
  ],
  [
    'opt disabled',
    {
      ...base,
      graphOptimizationLevel: 'disabled',
      intraOpNumThreads: 1,
      enableCpuMemArena: true,
      enableMemPattern: true,
    },
  ],
  [
    'no arena',
    { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 1, enableCpuMemArena: false, enableMemPattern: true },
  ],
  [
    'no mem pattern',
    { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: false },
  ],
  [
    '2 threads',
    { ...base, graphOptimizationLevel: 'all', intraOpNumThreads: 2, enableCpuMemArena: true, enableMemPattern: true },
  ],
  [
    '2 threads, no spinning',
    {
      ...base,
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 2,
      enableCpuMemArena: true,
      enableMemPattern: true,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    },
  ],
  ['runtime (default threads)', sessionOptions(Math.max(1, Math.min(4, os.availableParallelism())))],
];

const pixels = new Float32Array(256 * features);
let state = 12345;
for (let i = 0; i < pixels.length; i++) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  pixels[i] = state % 256;
}
const { normalization } = info;
const input =
  info.normalizationInGraph || !normalization
    ? pixels
    : pixels.map((v) => (v - (normalization.mean[0] ?? 0)) / (normalization.std[0] ?? 1));
/** @type {{ name: string, options: SessionOptions, session: InferenceSession, single: number[], batch: number[] }[]} */
const sessions = [];
for (const [name, options] of candidates)
  sessions.push({
    name,
    options,
    session: await ort.InferenceSession.create(modelFile, options),
    single: [],
    batch: [],
  });

/**
 * @param {InferenceSession} session
 * @param {number} rows
 */
const run = (session, rows) =>
  session.run({
    [info.input.name]: new ort.Tensor('float32', input.subarray(0, rows * features), [rows, ...info.input.shape]),
  });
/**
 * Runs `fn` for blockMs (at least 10 times); returns per-call times (ms).
 * @param {() => Promise<unknown>} fn
 */
async function block(fn) {
  /** @type {number[]} */
  const times = [];
  const end = performance.now() + blockMs;
  while (performance.now() < end || times.length < 10) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times;
}
for (const s of sessions) for (let i = 0; i < 20; i++) await run(s.session, i % 2 ? 1 : 256);
for (let round = 0; round < rounds; round++) {
  for (const s of round % 2 ? [...sessions].reverse() : sessions) {
    s.single.push(median(await block(() => run(s.session, 1))) * 1000);
    const times = await block(() => run(s.session, 256));
    s.batch.push(256 / (times.reduce((a, b) => a + b, 0) / times.length / 1000));
  }
}
for (const s of sessions) await s.session.release();
const rows = sessions.map((s) => ({
  name: s.name,
  options: s.options,
  singleP50Us: median(s.single),
  batch256RowsPerSecond: median(s.batch),
}));
console.log(
  `\nSession options: raw session.run of ${path.relative(ROOT, modelFile)}, ${rounds} interleaved rounds of ${blockMs} ms per measure (median)`,
);
console.log(
  table(
    ['options', 'single row p50 (µs)', 'batch 256 rows/s'],
    rows.map((r) => [r.name, fmt(r.singleP50Us, 1), fmt(r.batch256RowsPerSecond, 0)]),
  ),
);
writeJson('session_options.json', { model: path.relative(ROOT, modelFile), rounds, blockMs, candidates: rows });
