#!/usr/bin/env node
// Memory soak of the runtime's PredictionPool: 100,000 predictions (in waves of concurrent requests),
// RSS and heap printed every 10,000. Memory must stay flat once the pool is warm.
//
//   node scripts/bootstrap.js                      # builds dist/ (the soak runs the compiled runtime)
//   node --expose-gc bench/soak-pool.mjs [--total 100000] [--every 10000] [--wave 500] [--workers 2] [--json]
//
// With --expose-gc a full GC runs before each reading, so the numbers show what is retained, not
// what is merely not yet collected. Exits 1 if RSS or heap grew by more than --limit-mb (default 32 MB)
// between the first reading and the last. Results in docs/ERRORS.md ("Soak").
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The number after `--name` on the command line, else the fallback.
 * @param {string} name
 * @param {number} fallback
 */
function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
}
const total = option('total', 100_000);
const every = option('every', 10_000);
const wave = option('wave', 500);
const workers = option('workers', 2);
const limitMb = option('limit-mb', 32);
const json = process.argv.includes('--json');

/** @returns {typeof import('../src/runtime/index.js')} */
function loadRuntime() {
  try {
    /** @type {unknown} */ const runtime = require(join(ROOT, 'dist', 'runtime', 'index.js'));
    return /** @type {typeof import('../src/runtime/index.js')} */ (runtime);
  } catch (error) {
    console.error(
      `dist/ is missing or stale: run \`node scripts/bootstrap.js\` first (${error instanceof Error ? error.message : String(error)})`,
    );
    process.exit(2);
  }
}
const { PredictionPool, OnnxModel, loadDataset } = loadRuntime();

const model = join(ROOT, 'test', 'fixtures', 'iris_student.onnx');
const iris = await loadDataset(join(ROOT, 'test', 'fixtures', 'iris.npz'));
const width = iris.sampleShape.reduce((a, b) => a * b, 1);
/** @param {number} i */
const sampleAt = (i) => {
  const row = iris.x.subarray((i % iris.size) * width, ((i % iris.size) + 1) * width);
  return Float32Array.from(row, (value, j) => value + ((j + 1) * (i % 9973)) / 1e5);
};

/** @param {number} bytes */
const mb = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
/**
 * @param {number} done
 * @param {number} started
 */
function reading(done, started) {
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return {
    predictions: done,
    rssMb: mb(usage.rss),
    heapUsedMb: mb(usage.heapUsed),
    externalMb: mb(usage.external),
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

const reference = await OnnxModel.load(model);
const pool = await PredictionPool.create(model, { workers });
/** @type {ReturnType<typeof reading>[]} */
const readings = [];
let mismatches = 0;
const started = performance.now();
try {
  if (!json)
    console.log(
      `soak: ${total.toLocaleString('en')} predictions, waves of ${wave}, ${workers} workers, gc ${globalThis.gc ? 'forced before each reading' : 'not exposed (run node --expose-gc)'}`,
    );
  for (let done = 0; done < total;) {
    const count = Math.min(wave, total - done);
    const batch = Array.from({ length: count }, (_, k) => sampleAt(done + k));
    const predictions = await Promise.all(batch.map((sample) => pool.predict(sample)));
    // spot check: the first of every wave against a single-session model
    const expected = await reference.predict(batch[0]);
    if (JSON.stringify(expected) !== JSON.stringify(predictions[0])) mismatches += 1;
    done += count;
    if (done % every === 0 || done === total) {
      const r = reading(done, started);
      readings.push(r);
      if (!json)
        console.log(
          `${String(r.predictions).padStart(7)}  rss ${r.rssMb} MB  heap ${r.heapUsedMb} MB  external ${r.externalMb} MB  ${r.seconds} s`,
        );
    }
  }
} finally {
  await pool.close();
  await reference.close();
}

const [first, last] = [readings[0], readings.at(-1)];
const growth = {
  rssMb: Math.round((last.rssMb - first.rssMb) * 10) / 10,
  heapUsedMb: Math.round((last.heapUsedMb - first.heapUsedMb) * 10) / 10,
};
const flat = growth.rssMb <= limitMb && growth.heapUsedMb <= limitMb && mismatches === 0;
const summary = {
  total,
  wave,
  workers,
  gcForced: Boolean(globalThis.gc),
  readings,
  growthFromFirstReading: growth,
  mismatches,
  predictionsPerSecond: Math.round(total / last.seconds),
  flat,
};
if (json) console.log(JSON.stringify(summary, null, 2));
else
  console.log(
    `growth from ${first.predictions.toLocaleString('en')} to ${last.predictions.toLocaleString('en')}: rss ${growth.rssMb} MB, heap ${growth.heapUsedMb} MB; ${summary.predictionsPerSecond} predictions/s; spot-check mismatches ${mismatches} → ${flat ? 'FLAT' : 'GROWING'}`,
  );
process.exit(flat ? 0 : 1);
