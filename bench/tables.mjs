// Tables: loading and encoding a big CSV, and what predict(row object) adds over predict(Float32Array).
//
//   node scripts/bootstrap.js && node bench/tables.mjs [--rows 1000000] [--repeats 3] [--rounds 15]
//
// 1. Generates a CSV of --rows rows × 10 columns (7 numeric, one with 1 % missing cells; 2 categorical of 5 and 4
//    categories; a yes/no label) in a temp folder, then, each in a fresh Node process (--repeats times, medians):
//    prepareData (the run's path: read, fit, encode, write data/train.npz) and tableDataset (read and encode into
//    a Float32Array, as `distillery eval --data rows.csv` does). Peak memory is the process's RSS high-water mark
//    (VmHWM, reset through /proc/self/clear_refs just before) minus its RSS just before; the ratio is to the
//    final float32 x array (rows × width × 4 bytes).
// 2. Trains a tiny teacher (1 epoch, through the engine) on a 10-column table and times OnnxModel.predict on a row
//    object against predict on the same row already encoded (a Float32Array), in interleaved rounds; the overhead
//    is the median over rounds of the per-call mean difference.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, arg, dist, fmt, median, parseJson, table, writeJson } from './lib.mjs';

/** @typedef {import('../src/preprocess/spec.js').TablePreprocessSpec} TablePreprocessSpec */
/** @typedef {import('../src/preprocess/spec.js').TableRow} TableRow */
/** What a child process measures and prints. @typedef {{ seconds: number, peakBytes: number, xBytes: number, rows: number, width: number, cleared: boolean }} Measurement */

const CUTS = ['Ideal', 'Premium', 'Very Good', 'Good', 'Fair'];
const COLOURS = ['Red', 'Green', 'Blue', 'Black'];

/**
 * A seeded linear congruential generator: the same CSV on every run.
 * @param {number} seed
 */
function random(seed) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/**
 * Writes a CSV of `rows` rows: `numeric` numeric columns, two categorical ones and a yes/no label.
 * @param {string} file
 * @param {number} rows
 */
function writeCsv(file, rows, numeric = 7) {
  const next = random(1);
  const fd = fs.openSync(file, 'w');
  const names = Array.from({ length: numeric }, (_, k) => `n${k}`);
  let buffer = `${names.join(',')},cut,colour,label\n`;
  for (let i = 0; i < rows; i++) {
    /** @type {string[]} */
    const values = [];
    for (let k = 0; k < numeric; k++) {
      if (k === 4 && next() < 0.01) values.push('');
      else values.push(k % 3 === 2 ? String(Math.floor(next() * 1000)) : (next() * 100).toFixed(k % 2 ? 2 : 3));
    }
    const cut = CUTS[Math.floor(next() * 5)] ?? '';
    const colour = COLOURS[Math.floor(next() * 4)] ?? '';
    buffer += `${values.join(',')},${cut},${colour},${next() < 0.5 ? 'yes' : 'no'}\n`;
    if (buffer.length > 1 << 20) {
      fs.writeSync(fd, buffer);
      buffer = '';
    }
  }
  fs.writeSync(fd, buffer);
  fs.closeSync(fd);
}

/**
 * A memory figure of this process from /proc/self/status, in bytes (NaN where the kernel has none).
 * @param {string} field
 */
function status(field) {
  const line = fs
    .readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1]) * 1024;
}

/** @param {string} file */
function dataConfig(file) {
  const { Data } = dist('config/schema.js');
  return Data.parse({
    train: { type: 'csv', path: file, label: 'label' },
    test: { type: 'csv', path: file, limit: 1000 },
  });
}

/**
 * The table encoding a prepared data set or a model records (these benchmarks only make tables).
 * @param {import('../src/preprocess/spec.js').PreprocessSpec | null | undefined} spec
 * @returns {TablePreprocessSpec}
 */
function tableSpec(spec) {
  if (spec?.kind !== 'table') throw new Error('expected a table preprocess spec');
  return spec;
}

// ---------------------------------------------------------------- child: one measurement in a fresh process

if (process.argv[2] === '--child') {
  const [what, file, outDir] = process.argv.slice(3);
  if (!file || !outDir) throw new Error('usage: node bench/tables.mjs --child prepare|encode <csv> <out-dir>');
  const { prepareData } = dist('data/index.js');
  const { tableDataset } = dist('data/table.js');
  // Warm up on a small file: modules loaded and compiled, so the measurement is the table's own cost.
  const small = path.join(outDir, 'warm.csv');
  writeCsv(small, 2000);
  const warm = await prepareData(dataConfig(small), path.join(outDir, 'warm'));
  const spec = tableSpec(warm.data.preprocess);
  await tableDataset(small, spec, warm.data.labels);
  let cleared = true;
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    cleared = false;
  }
  const before = status('VmRSS');
  const started = performance.now();
  let rows;
  let width;
  if (what === 'prepare') {
    const prepared = await prepareData(dataConfig(file), path.join(outDir, 'prepared'));
    rows = prepared.summary.rows.train;
    width = tableSpec(prepared.data.preprocess).columns.reduce(
      (w, c) => w + (c.type === 'categorical' ? c.categories.length : 1),
      0,
    );
  } else {
    const dataset = await tableDataset(file, spec, warm.data.labels);
    rows = dataset.size;
    width = dataset.sampleShape[0] ?? NaN;
  }
  const seconds = (performance.now() - started) / 1000;
  const peak = status('VmHWM') - before;
  process.stdout.write(JSON.stringify({ seconds, peakBytes: peak, xBytes: rows * width * 4, rows, width, cleared }));
  process.exit(0);
}

// ---------------------------------------------------------------- main

const rows = Number(arg('rows', '1000000'));
const repeats = Number(arg('repeats', '3'));
const rounds = Number(arg('rounds', '15'));
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-bench-tables-'));
try {
  const big = path.join(folder, 'big.csv');
  let started = performance.now();
  writeCsv(big, rows);
  console.log(
    `generated ${rows.toLocaleString('en-US')} rows, ${(fs.statSync(big).size / 1e6).toFixed(1)} MB, in ${fmt((performance.now() - started) / 1000)} s`,
  );

  /** @type {Record<'prepare' | 'encode', Measurement[]>} */
  const loads = { prepare: [], encode: [] };
  for (const what of /** @type {const} */ (['prepare', 'encode'])) {
    for (let r = 0; r < repeats; r++) {
      const out = fs.mkdtempSync(path.join(folder, `${what}-`));
      const text = execFileSync(process.execPath, [path.join(ROOT, 'bench', 'tables.mjs'), '--child', what, big, out], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      loads[what].push(parseJson(text));
      fs.rmSync(out, { recursive: true, force: true });
    }
  }
  /** @param {Measurement[]} list */
  const summary = (list) => ({
    seconds: median(list.map((m) => m.seconds)),
    peakMB: median(list.map((m) => m.peakBytes)) / 1e6,
    xMB: (list[0]?.xBytes ?? NaN) / 1e6,
    ratio: median(list.map((m) => m.peakBytes / m.xBytes)),
    runs: list,
  });
  const prepare = summary(loads.prepare);
  const encode = summary(loads.encode);
  console.log(
    '\n' +
      table(
        ['1M-row CSV (10 columns → 16 inputs)', 'seconds (median)', 'peak RSS growth', 'x float32', 'ratio'],
        [
          [
            'prepareData: read, fit, encode, write train.npz',
            fmt(prepare.seconds, 2),
            `${fmt(prepare.peakMB)} MB`,
            `${fmt(prepare.xMB)} MB`,
            `${fmt(prepare.ratio, 2)}x`,
          ],
          [
            'tableDataset: read, encode to a Float32Array',
            fmt(encode.seconds, 2),
            `${fmt(encode.peakMB)} MB`,
            `${fmt(encode.xMB)} MB`,
            `${fmt(encode.ratio, 2)}x`,
          ],
        ],
      ),
  );

  // predict(row) vs predict(Float32Array) on a model trained on a 10-column table (8 numeric, 2 categorical).
  const small = path.join(folder, 'small.csv');
  writeCsv(small, 2000, 8);
  const { trainTeacher } = dist('index.js');
  const { OnnxModel } = dist('runtime/index.js');
  const { compileTable, encodeRow } = dist('preprocess/table.js');
  const { readTableFile } = dist('data/table.js');
  started = performance.now();
  const teacher = await trainTeacher({
    outDir: path.join(folder, 'model'),
    device: 'cpu',
    data: { train: { type: 'csv', path: small, label: 'label' }, test: { type: 'csv', path: small, limit: 200 } },
    teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training: { epochs: 1 } },
  });
  console.log(`\ntrained a 10-column table teacher in ${fmt((performance.now() - started) / 1000)} s`);
  const model = await OnnxModel.load(teacher.onnx, { threads: 1 });
  const spec = tableSpec(model.info.preprocess);
  const width = compileTable(spec).width;
  const typed = (await readTableFile(small)).slice(0, 256).map((row) => {
    /** @type {Record<string, TableRow[string]>} */
    const copy = {};
    for (const [key, value] of Object.entries(row))
      if (key !== 'label') copy[key] = /^n\d$/.test(key) && value !== '' ? Number(value) : value;
    return copy;
  });
  const encoded = typed.map((row) => {
    const out = new Float32Array(width);
    encodeRow(spec, row, out, 0, 'sample');
    return out;
  });
  /**
   * Mean µs per `model.predict` over `calls` calls, cycling through `inputs`.
   * @param {(TableRow | Float32Array)[]} inputs
   * @param {number} calls
   */
  const perCall = async (inputs, calls) => {
    const start = performance.now();
    for (let i = 0; i < calls; i++) {
      const input = inputs[i % inputs.length];
      if (input) await model.predict(input);
    }
    return ((performance.now() - start) * 1000) / calls;
  };
  await perCall(typed, 2000);
  await perCall(encoded, 2000);
  /** @type {number[]} */
  const arrays = [];
  /** @type {number[]} */
  const objects = [];
  /** @type {number[]} */
  const encodeOnly = [];
  for (let round = 0; round < rounds; round++) {
    arrays.push(await perCall(encoded, 2000));
    objects.push(await perCall(typed, 2000));
    const out = new Float32Array(width);
    const start = performance.now();
    for (let i = 0; i < 100_000; i++) encodeRow(spec, typed[i % typed.length] ?? {}, out, 0, 'sample');
    encodeOnly.push(((performance.now() - start) * 1000) / 100_000);
  }
  await model.close();
  const overheads = arrays.map((a, i) => (objects[i] ?? NaN) - a);
  const predict = {
    columns: spec.columns.length,
    width,
    arrayUs: median(arrays),
    rowUs: median(objects),
    overheadUs: median(overheads),
    encodeRowUs: median(encodeOnly),
    rounds,
  };
  console.log(
    '\n' +
      table(
        ['predict, 1 row, 1 thread', 'µs per call (median of rounds)'],
        [
          ['predict(Float32Array), already encoded', fmt(predict.arrayUs, 2)],
          ['predict({ n0: 12.3, …, cut: "Ideal", colour: "Red" })', fmt(predict.rowUs, 2)],
          ['added by the row object (median of per-round differences)', fmt(predict.overheadUs, 2)],
          ['encodeRow alone', fmt(predict.encodeRowUs, 3)],
        ],
      ),
  );
  writeJson('tables.json', { rows, repeats, prepare, encode, predict });
} finally {
  fs.rmSync(folder, { recursive: true, force: true });
}
