// Runtime overhead: OnnxModel.predict / predictBatch against a raw onnxruntime-node session.run on the same
// .onnx (same session options and threads), against PyTorch eager in Python, the model's int8 / fp16 variants
// (<name>.int8-dynamic.onnx, … next to it, when present: batch-256 rows/s, single-row p50, size, test accuracy),
// and PredictionPool throughput with 1, 2 and 8 concurrent callers (OnnxModel on one session alongside).
// Blocks of A and B alternate; the overhead is also measured call by call (A, B, A, B, …), which a drift of the
// shared machine cannot bias, and the goals are printed for both.
//
//   node scripts/bootstrap.js && node bench/runtime.mjs [--model bench/out/demo/soft-t20.onnx] [--threads 1] [--blocks 4]
//
// The raw session gets the inputs its graph takes (raw pixels when the graph normalises them itself,
// distillery.normalizationInGraph; else pre-normalised rows) and returns bare logits; OnnxModel takes raw pixels and
// does validation, (normalisation,) softmax and argmax: that work is the overhead measured.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  OUT,
  PYTHON,
  ROOT,
  arg,
  dist,
  fmt,
  lastLine,
  median,
  onnxruntime,
  parseJson,
  table,
  writeJson,
} from './lib.mjs';

/** @typedef {import('../src/runtime/index.js').OnnxModel} OnnxModel */
/** @typedef {import('../src/runtime/index.js').PredictionPool} PredictionPool */
/** @typedef {() => Promise<unknown>} Call */
/** @typedef {{ p50: number, mean: number, runs: number }} BlockStats */
/**
 * What bench/runtime_torch.py prints: PyTorch eager on the same checkpoint (bf16 where the CPU has it).
 * @typedef {{ single: { p50Us: number, meanUs: number }, batch256: { rowsPerSecond: number }, bf16?: { batch256: { rowsPerSecond: number } } | null }} TorchResult
 */
/** @typedef {{ method: string, file: string, model: OnnxModel, sizeBytes: number, accuracy: number | null, single: number[], batch: number[] }} Variant */

const modelFile = path.resolve(arg('model', path.join(OUT, 'demo', 'soft-t20.onnx')));
if (!fs.existsSync(modelFile)) {
  console.error(
    `${modelFile} not found: run \`node bench/cold_start.mjs\` (it runs the demo into bench/out/demo) or pass --model`,
  );
  process.exit(2);
}
const threads = Number(arg('threads', '1'));
const blocks = Number(arg('blocks', '4'));
const blockMs = Number(arg('block-ms', '400'));
const { OnnxModel, PredictionPool } = dist('runtime/index.js');
const { sessionOptions } = dist('runtime/session.js');
const ort = onnxruntime();

const model = await OnnxModel.load(modelFile, { threads });
const raw = await ort.InferenceSession.create(modelFile, sessionOptions(threads));
const features = model.info.input.shape.reduce((a, b) => a * b, 1);
const { mean, std } = model.info.normalization ?? { mean: [0], std: [1] };
const inputName = model.info.input.name;
const outputName = model.info.output.name;

// deterministic "pixels" 0..255, and the same rows normalised for the raw session
const pixels = new Float32Array(256 * features);
let state = 12345;
for (let i = 0; i < pixels.length; i++) {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  pixels[i] = state % 256;
}
const normalised = model.info.normalizationInGraph
  ? pixels
  : pixels.map((v, i) => (v - mean[mean.length === 1 ? 0 : i % features]) / std[std.length === 1 ? 0 : i % features]);
const row = pixels.subarray(0, features);
const rowNorm = normalised.subarray(0, features);

/**
 * @param {Float32Array} data
 * @param {number} rows
 */
const rawRun = async (data, rows) => {
  const out = await raw.run({ [inputName]: new ort.Tensor('float32', data, [rows, ...model.info.input.shape]) }, [
    outputName,
  ]);
  return out[outputName]?.data;
};

/**
 * Runs `fn` for blockMs; returns per-call times (ms).
 * @param {Call} fn
 */
async function block(fn) {
  /** @type {number[]} */
  const times = [];
  const end = performance.now() + blockMs;
  while (performance.now() < end || times.length < 20) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times;
}

/**
 * Blocks of `a` and of `b`, alternating which goes first, after a warm-up of both.
 * @param {Call} a
 * @param {Call} b
 */
async function abPairs(a, b) {
  for (let i = 0; i < 50; i++) {
    await a();
    await b();
  }
  /** @type {Record<'a' | 'b', BlockStats[]>} */
  const result = { a: [], b: [] };
  for (let i = 0; i < blocks; i++) {
    /** @type {('a' | 'b')[]} */
    const order = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
    for (const side of order) {
      const times = await block(side === 'a' ? a : b);
      result[side].push({
        p50: median(times),
        mean: times.reduce((s, t) => s + t, 0) / times.length,
        runs: times.length,
      });
    }
  }
  return result;
}

/**
 * `calls` pairs of one call of `a` then one of `b`: the median of a − b (µs) and a's throughput over b's (total b
 * time / total a time).
 * @param {Call} a
 * @param {Call} b
 * @param {number} calls
 */
async function pairedCalls(a, b, calls) {
  /** @type {number[]} */
  const diffs = [];
  let totalA = 0;
  let totalB = 0;
  for (let i = 0; i < calls; i++) {
    let t = performance.now();
    await a();
    const ta = performance.now() - t;
    t = performance.now();
    await b();
    const tb = performance.now() - t;
    diffs.push((ta - tb) * 1000);
    totalA += ta;
    totalB += tb;
  }
  return { calls, addedUsMedian: median(diffs), throughputRatio: totalB / totalA };
}

// ---- single row
const single = await abPairs(
  () => model.predict(row),
  () => rawRun(rowNorm, 1),
);
const oursP50 = median(single.a.map((b) => b.p50)) * 1000;
const rawP50 = median(single.b.map((b) => b.p50)) * 1000;
// The same single-row pair, call by call (A, B, A, B, …): block medians drift with the shared VM (on a Zen 5 two of
// four 8-block runs read ~+10 µs while alternating calls read +1.3 to +3 µs in the same minutes), and a drift
// cannot favour either side of a call-by-call pair. Median of the per-call differences.
const paired = await pairedCalls(
  () => model.predict(row),
  () => rawRun(rowNorm, 1),
  4000,
);
const oursMean = median(single.a.map((b) => b.mean)) * 1000;
const rawMean = median(single.b.map((b) => b.mean)) * 1000;
// ---- batch 256
const batch = await abPairs(
  () => model.predictBatch(pixels),
  () => rawRun(normalised, 256),
);
const pairedBatch = await pairedCalls(
  () => model.predictBatch(pixels),
  () => rawRun(normalised, 256),
  800,
);
const oursRows = 256 / (median(batch.a.map((b) => b.mean)) / 1000);
const rawRows = 256 / (median(batch.b.map((b) => b.mean)) / 1000);
const singleOursRate = 1000 / (oursMean / 1000);
const singleRawRate = 1000 / (rawMean / 1000);

// ---- PyTorch eager (same checkpoint, same thread count), run right after
const checkpoint = path.join(path.dirname(modelFile), 'checkpoints', `${path.basename(modelFile, '.onnx')}.pt`);
/** @type {TorchResult | null} */
let torchResult = null;
if (fs.existsSync(checkpoint)) {
  const out = execFileSync(
    PYTHON,
    [path.join(ROOT, 'bench', 'runtime_torch.py'), checkpoint, '--threads', String(threads)],
    {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python'), OMP_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  torchResult = parseJson(lastLine(out));
}

// ---- variants: fp32 and every <name>.<method>.onnx next to it, interleaved blocks (OnnxModel, end to end)
const { loadDataset, evaluate } = dist('runtime/index.js');
const testFile = path.join(path.dirname(modelFile), 'data', 'test.npz');
const dataset = fs.existsSync(testFile) ? await loadDataset(testFile) : null;
const variantFiles = [
  { method: 'fp32', file: modelFile },
  ...['int8-dynamic', 'int8-static', 'fp16']
    .map((method) => ({ method, file: modelFile.replace(/\.onnx$/, `.${method}.onnx`) }))
    .filter(({ file }) => fs.existsSync(file)),
];
/** @type {Variant[]} */
const variants = [];
for (const { method, file } of variantFiles) {
  const loaded = await OnnxModel.load(file, { threads });
  const report = dataset ? await evaluate(loaded, dataset) : null;
  const accuracy = report && 'accuracy' in report ? report.accuracy : null;
  variants.push({
    method,
    file: path.relative(ROOT, file),
    model: loaded,
    sizeBytes: fs.statSync(file).size,
    accuracy,
    single: [],
    batch: [],
  });
}
for (let round = 0; round < blocks; round++) {
  for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
    const single = await block(() => v.model.predict(row));
    const batchTimes = await block(() => v.model.predictBatch(pixels));
    v.single.push(median(single) * 1000);
    v.batch.push(256 / (batchTimes.reduce((sum, t) => sum + t, 0) / batchTimes.length / 1000));
  }
}
for (const v of variants) await v.model.close();
const [fp32Variant] = variants; // the model itself, always first
if (!fp32Variant) throw new Error('no fp32 variant measured');
const eager = torchResult?.batch256.rowsPerSecond;
const bf16 = torchResult?.bf16?.batch256.rowsPerSecond;
const eagerSingleP50Us = torchResult?.single.p50Us;
const variantRows = variants.map((v) => {
  const singleP50Us = median(v.single);
  const batch256RowsPerSecond = median(v.batch);
  return {
    method: v.method,
    file: v.file,
    sizeBytes: v.sizeBytes,
    sizeRatio: v.sizeBytes / fp32Variant.sizeBytes,
    accuracy: v.accuracy,
    accuracyDropPoints:
      v.accuracy === null || fp32Variant.accuracy === null ? null : 100 * (fp32Variant.accuracy - v.accuracy),
    singleP50Us,
    batch256RowsPerSecond,
    vsPytorchEagerBatch256: eager ? batch256RowsPerSecond / eager : null,
    vsPytorchBf16Batch256: bf16 ? batch256RowsPerSecond / bf16 : null,
    singleP50VsPytorchEager: eagerSingleP50Us ? singleP50Us / eagerSingleP50Us : null,
  };
});

// ---- concurrency: PredictionPool (default workers, 1 thread each) vs OnnxModel, c concurrent callers
const pool = await PredictionPool.create(modelFile, { threads: 1 });
const poolWorkers = Math.max(1, Math.min(4, os.availableParallelism()));
/**
 * Rows per second that `callers` concurrent callers get from `predictor` over 1.5 s.
 * @param {OnnxModel | PredictionPool} predictor
 * @param {number} callers
 * @param {1 | 256} rows
 */
async function concurrent(predictor, callers, rows) {
  const input = rows === 1 ? row : pixels;
  const call = rows === 1 ? () => predictor.predict(input) : () => predictor.predictBatch(input);
  for (let i = 0; i < 10; i++) await call();
  let done = 0;
  const end = performance.now() + 1500;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        await call();
        done += rows;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}
/** @type {{ rows: number, callers: number, poolRowsPerSecond: number, studentModelRowsPerSecond: number }[]} */
const concurrency = [];
for (const rows of /** @type {const} */ ([1, 256])) {
  for (const callers of [1, 2, 8]) {
    const poolRate = await concurrent(pool, callers, rows);
    const modelRate = await concurrent(model, callers, rows);
    concurrency.push({ rows, callers, poolRowsPerSecond: poolRate, studentModelRowsPerSecond: modelRate });
  }
}
await pool.close();
await model.close();
await raw.release();

const overheadUs = oursP50 - rawP50;
console.log(
  `\nRuntime: ${path.relative(ROOT, modelFile)} (${model.info.params ?? '?'} params), onnxruntime-node intra-op threads ${threads}, ${blocks} alternating blocks of ${blockMs} ms (median)`,
);
const rows = [
  [
    'single row p50 (µs)',
    fmt(oursP50, 1),
    fmt(rawP50, 1),
    `+${fmt(overheadUs, 1)} µs`,
    torchResult ? fmt(torchResult.single.p50Us, 1) : '—',
  ],
  [
    'single row calls/s',
    fmt(singleOursRate, 0),
    fmt(singleRawRate, 0),
    fmt(singleOursRate / singleRawRate, 3),
    torchResult ? fmt(1e6 / torchResult.single.meanUs, 0) : '—',
  ],
  [
    'batch 256 rows/s',
    fmt(oursRows, 0),
    fmt(rawRows, 0),
    fmt(oursRows / rawRows, 3),
    torchResult ? fmt(torchResult.batch256.rowsPerSecond, 0) : '—',
  ],
];
console.log(table(['', 'OnnxModel', 'raw session.run', 'ours vs raw', 'PyTorch eager'], rows));
console.log(
  `calls alternating with raw: single row (${paired.calls} pairs) median added ${fmt(paired.addedUsMedian, 1)} µs; ` +
    `batch 256 (${pairedBatch.calls} pairs) ours / raw ${fmt(pairedBatch.throughputRatio, 3)}`,
);
console.log(
  `goals: batch throughput >= 0.95 of raw -> blocks ${fmt(oursRows / rawRows, 3)} ${oursRows / rawRows >= 0.95 ? 'met' : 'MISSED'}, ` +
    `alternating calls ${fmt(pairedBatch.throughputRatio, 3)} ${pairedBatch.throughputRatio >= 0.95 ? 'met' : 'MISSED'}; ` +
    `<= 5 µs added per single row -> blocks ${fmt(overheadUs, 1)} µs ${overheadUs <= 5 ? 'met' : 'MISSED'}, ` +
    `alternating calls ${fmt(paired.addedUsMedian, 1)} µs ${paired.addedUsMedian <= 5 ? 'met' : 'MISSED'}`,
);
console.log(
  `\nVariants (OnnxModel end to end, ${blocks} interleaved blocks; accuracy on ${dataset ? path.relative(ROOT, testFile) : 'no test split found'})`,
);
console.log(
  table(
    [
      'variant',
      'size',
      'x fp32 size',
      'accuracy',
      'drop (pts)',
      'p50 b=1 (µs)',
      'x eager p50',
      'rows/s b=256',
      'x eager',
      'x bf16',
    ],
    variantRows.map((v) => [
      v.method,
      `${(v.sizeBytes / 2 ** 20).toFixed(2)} MB`,
      fmt(v.sizeRatio, 3),
      v.accuracy === null ? '—' : `${(100 * v.accuracy).toFixed(2)}%`,
      v.accuracyDropPoints === null ? '—' : fmt(v.accuracyDropPoints, 2),
      fmt(v.singleP50Us, 1),
      v.singleP50VsPytorchEager === null ? '—' : fmt(v.singleP50VsPytorchEager, 2),
      fmt(v.batch256RowsPerSecond, 0),
      v.vsPytorchEagerBatch256 === null ? '—' : `${fmt(v.vsPytorchEagerBatch256, 2)}×`,
      v.vsPytorchBf16Batch256 === null ? '—' : `${fmt(v.vsPytorchBf16Batch256, 2)}×`,
    ]),
  ),
);
const int8 = variantRows.filter((v) => v.method.startsWith('int8'));
const fp32Row = variantRows[0];
console.log(
  `goals: fp32 >= 1.0x PyTorch eager at b=256 -> ${fmt(fp32Row.vsPytorchEagerBatch256, 2)} ${fp32Row.vsPytorchEagerBatch256 >= 1 ? 'met' : 'MISSED'}; ` +
    `single-row p50 <= 0.8x eager -> ${fmt(fp32Row.singleP50VsPytorchEager, 2)} ${fp32Row.singleP50VsPytorchEager <= 0.8 ? 'met' : 'MISSED'}; ` +
    int8
      .map(
        (v) =>
          `${v.method} >= 3x eager -> ${fmt(v.vsPytorchEagerBatch256, 2)} ${v.vsPytorchEagerBatch256 >= 3 ? 'met' : 'MISSED'}, drop ${fmt(v.accuracyDropPoints, 2)} pts ${v.accuracyDropPoints <= 0.5 ? 'met' : 'MISSED'}`,
      )
      .join('; '),
);

console.log(
  `\nConcurrent callers (${poolWorkers} pool workers x 1 thread; OnnxModel: one session, ${threads} thread(s)), rows/s over 1.5 s`,
);
console.log(
  table(
    ['rows per call', 'callers', 'PredictionPool', 'OnnxModel'],
    concurrency.map((c) => [c.rows, c.callers, fmt(c.poolRowsPerSecond, 0), fmt(c.studentModelRowsPerSecond, 0)]),
  ),
);
writeJson('runtime.json', {
  model: path.relative(ROOT, modelFile),
  threads,
  blocks,
  blockMs,
  single: {
    studentModelP50Us: oursP50,
    rawP50Us: rawP50,
    studentModelMeanUs: oursMean,
    rawMeanUs: rawMean,
    addedUs: overheadUs,
    blocks: single,
    pairedCalls: paired,
  },
  batch256: {
    studentModelRowsPerSecond: oursRows,
    rawRowsPerSecond: rawRows,
    ratio: oursRows / rawRows,
    blocks: batch,
    pairedCalls: pairedBatch,
  },
  pytorchEager: torchResult,
  variants: variantRows,
  poolWorkers,
  concurrency,
  lscpu: (() => {
    try {
      return execFileSync('lscpu', { encoding: 'utf8' });
    } catch {
      return null;
    }
  })(),
  goals: {
    batchRatio: 0.95,
    addedUsPerRow: 5,
    batchMet: oursRows / rawRows >= 0.95,
    singleMet: overheadUs <= 5,
    singlePairedMet: paired.addedUsMedian <= 5,
    batchPairedMet: pairedBatch.throughputRatio >= 0.95,
  },
});
