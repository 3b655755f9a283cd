// Student vs teacher, from a demo run's report.json: parameters, FLOPs, ONNX size, accuracy difference, and latency /
// throughput speed-ups. The report's own latencies were measured one model after the other; on a shared machine
// that is noisy, so every .onnx is measured again here side by side: blocks of each model in turn, several rounds,
// median (OnnxModel, batch-1 predict and batch-256 predictBatch, onnxruntime-node threads --threads).
//
//   node bench/student_vs_teacher.mjs [--report bench/out/demo/report.json] [--threads 1] [--rounds 5]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OUT, ROOT, arg, dist, fmt, median, parseJson, table, writeJson } from './lib.mjs';

/** @typedef {import('../src/experiment/report-types.js').ModelReport} ModelReport */
/** @typedef {import('../src/experiment/report-types.js').ClassificationTest} ClassificationTest */

const file = path.resolve(arg('report', path.join(OUT, 'demo', 'report.json')));
const threads = Number(arg('threads', '1'));
const rounds = Number(arg('rounds', '5'));
if (!fs.existsSync(file)) {
  console.error(`${file} not found: run \`node bench/cold_start.mjs\` (it runs the demo into bench/out/demo) first`);
  process.exit(2);
}
/** @type {import('../src/experiment/report-types.js').RunReport} */
const report = parseJson(fs.readFileSync(file, 'utf8'));
const t = report.teacher;

/**
 * A model's test results; this comparison is of classifiers (accuracy, errors), like the demo.
 * @param {ModelReport} m
 * @returns {ClassificationTest}
 */
function classifierTest(m) {
  if (!('accuracy' in m.test))
    throw new Error(`${m.name} is not a classifier: student_vs_teacher compares classifiers`);
  return m.test;
}
/**
 * A number the comparison divides by: the report may lack it (a black-box teacher's FLOPs).
 * @param {number | null | undefined} value
 */
const known = (value) => value ?? NaN;

// ---- side-by-side re-measurement
const { OnnxModel } = dist('runtime/index.js');
/** @type {import('../src/runtime/index.js').OnnxModel[]} */
const loaded = [];
for (const m of [t, ...report.students])
  loaded.push(await OnnxModel.load(path.join(path.dirname(file), m.onnx), { threads }));
const features = 784;
const pixels = new Float32Array(256 * features).map((_, i) => (i * 37) % 256);
const row = pixels.subarray(0, features);
/** @type {{ p50: number[], rows: number[] }[]} */
const timing = loaded.map(() => ({ p50: [], rows: [] }));
/**
 * Runs `fn` for `ms` (at least 10 times); returns per-call times (ms).
 * @param {() => Promise<unknown>} fn
 * @param {number} ms
 */
async function block(fn, ms) {
  /** @type {number[]} */
  const times = [];
  const end = performance.now() + ms;
  while (performance.now() < end || times.length < 10) {
    const s0 = performance.now();
    await fn();
    times.push(performance.now() - s0);
  }
  return times;
}
for (const m of loaded) for (let i = 0; i < 30; i++) await m.predictBatch(pixels);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? loaded.map((_, i) => i) : loaded.map((_, i) => loaded.length - 1 - i);
  for (const i of order) {
    const model = loaded[i];
    const times = timing[i];
    if (!model || !times) continue;
    times.p50.push(median(await block(() => model.predict(row), 250)));
    const batchTimes = await block(() => model.predictBatch(pixels), 250);
    times.rows.push(256 / (batchTimes.reduce((a, b) => a + b, 0) / batchTimes.length / 1000));
  }
}
for (const m of loaded) await m.close();
const side = timing.map((x) => ({ p50Ms: median(x.p50), rowsPerS: median(x.rows) }));
const teacherSide = side[0] ?? { p50Ms: NaN, rowsPerS: NaN };
const teacherTest = classifierTest(t);
const models = [t, ...report.students].map((m, index) => {
  const test = classifierTest(m);
  const mine = side[index] ?? { p50Ms: NaN, rowsPerS: NaN };
  return {
    name: m.name,
    method: m.method ? m.method.type + ('temperature' in m.method ? ` T=${m.method.temperature}` : '') : 'teacher',
    hidden: 'hidden' in m.model ? m.model.hidden : undefined,
    bottleneck: ('bottleneck' in m.model ? m.model.bottleneck : null) ?? null,
    params: m.params,
    paramsVsTeacher: m.params / t.params,
    flopsPerSample: m.flopsPerSample,
    flopsVsTeacher: known(m.flopsPerSample) / known(t.flopsPerSample),
    onnxBytes: m.sizeBytes,
    onnxVsTeacher: m.sizeBytes / t.sizeBytes,
    batch1P50Ms: m.latency?.batch1P50Ms ?? null,
    latencySpeedup: m.latency && t.latency ? t.latency.batch1P50Ms / m.latency.batch1P50Ms : null,
    batch256RowsPerS: m.latency?.batch256RowsPerS ?? null,
    throughputSpeedup: m.latency && t.latency ? m.latency.batch256RowsPerS / t.latency.batch256RowsPerS : null,
    accuracy: test.accuracy,
    errors: test.errors,
    accuracyDiffPoints: 100 * (test.accuracy - teacherTest.accuracy),
    agreementWithTeacher: m.agreementWithTeacher ?? null,
    sideBySide: {
      ...mine,
      latencySpeedup: teacherSide.p50Ms / mine.p50Ms,
      throughputSpeedup: mine.rowsPerS / teacherSide.rowsPerS,
    },
  };
});
console.log(
  `\nStudent vs teacher from ${path.relative(ROOT, file)} (latencies as the report measured them, one model after the other) (${report.machine}; seed ${report.seed}; test n=${teacherTest.n})`,
);
console.log(
  table(
    [
      'model',
      'method',
      'params',
      'FLOPs/sample',
      'ONNX',
      'p50 b=1 ms',
      'latency speed-up',
      'rows/s b=256',
      'throughput speed-up',
      'test acc',
      'Δ acc (pts)',
      'agreement',
    ],
    models.map((m) => [
      m.name,
      m.method,
      `${(m.params / 1e6).toFixed(2)}M (${fmt(m.paramsVsTeacher, 2)}x)`,
      `${(known(m.flopsPerSample) / 1e6).toFixed(2)}M (${fmt(m.flopsVsTeacher, 2)}x)`,
      `${(m.onnxBytes / 2 ** 20).toFixed(2)} MB`,
      fmt(m.batch1P50Ms, 3),
      m.latencySpeedup === null ? '—' : `${fmt(m.latencySpeedup, 2)}x`,
      fmt(m.batch256RowsPerS, 0),
      m.throughputSpeedup === null ? '—' : `${fmt(m.throughputSpeedup, 2)}x`,
      `${(100 * m.accuracy).toFixed(2)}% (${m.errors})`,
      m.name === t.name ? '—' : fmt(m.accuracyDiffPoints, 2),
      m.agreementWithTeacher === null ? '—' : `${(100 * m.agreementWithTeacher).toFixed(2)}%`,
    ]),
  ),
);
console.log(
  `\nSide by side now (OnnxModel, onnxruntime-node threads ${threads}, ${rounds} rounds of 250 ms blocks, median)`,
);
console.log(
  table(
    ['model', 'p50 b=1 ms', 'latency speed-up', 'rows/s b=256', 'throughput speed-up'],
    models.map((m) => [
      m.name,
      fmt(m.sideBySide.p50Ms, 3),
      `${fmt(m.sideBySide.latencySpeedup, 2)}x`,
      fmt(m.sideBySide.rowsPerS, 0),
      `${fmt(m.sideBySide.throughputSpeedup, 2)}x`,
    ]),
  ),
);
writeJson('student_vs_teacher.json', {
  report: path.relative(ROOT, file),
  machine: report.machine,
  seed: report.seed,
  threads,
  rounds,
  models,
});
