// Images: decoding throughput for 28×28 PNGs (the plain-PNG path and sharp), preparing an image folder for the
// engine (first run: read + hash + decode + write the cache; second run: read + hash, a cache hit), and
// `predict(pngBuffer)` latency next to `predict(pixels)`. Blocks / rounds of A and B alternate; medians.
//
//   node scripts/mnist-pngs.mjs && node bin/distillery.js run examples/mnist-png.json --out runs/mnist-png
//   node bench/images.mjs [--data runs/mnist-png-data] [--model runs/mnist-png/soft-t20.onnx] [--rounds 5]
//
// The model only matters for the latency part (any model trained on 28×28 grayscale images).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, arg, dist, fmt, median, table, writeJson } from './lib.mjs';

const dataDir = path.resolve(arg('data', path.join(ROOT, 'runs', 'mnist-png-data')));
const modelFile = path.resolve(arg('model', path.join(ROOT, 'runs', 'mnist-png', 'soft-t20.onnx')));
const rounds = Number(arg('rounds', '5'));
const inputsNeeded = [
  { file: dataDir, hint: 'node scripts/mnist-pngs.mjs' },
  { file: modelFile, hint: 'node bin/distillery.js run examples/mnist-png.json --out runs/mnist-png' },
];
for (const { file, hint } of inputsNeeded) {
  if (!fs.existsSync(file)) {
    console.error(`${file} not found: run \`${hint}\` first (or pass --data / --model)`);
    process.exit(2);
  }
}
// loaded after the checks above, so that a missing input is reported before sharp's native module loads
const { default: sharp } = await import('sharp');
const { decodePixels, maxConcurrency } = dist('preprocess/image.js');
const { prepareData } = dist('data/index.js');
const { imageFiles } = dist('data/images.js');
const { Data } = dist('config/schema.js');
const { OnnxModel } = dist('runtime/index.js');

/** @type {import('../src/preprocess/spec.js').ImagePreprocessSpec} */
const spec = { kind: 'image', size: [28, 28], channels: 1, fit: 'fill' };
const files = await imageFiles(dataDir);
const buffers = files.map((file) => fs.readFileSync(file));
console.log(
  `${buffers.length} PNGs from ${path.relative(ROOT, dataDir)}, mean ${fmt(buffers.reduce((t, b) => t + b.length, 0) / buffers.length, 0)} bytes; sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), sharp.concurrency() ${sharp.concurrency()}, ${maxConcurrency()} sharp calls in flight`,
);

// ------------------------------------------------------------ 1. decoding throughput

/**
 * Images per second for `decode` over `images`, `concurrency` at a time.
 * @param {Uint8Array[]} images
 * @param {(image: Uint8Array) => Promise<unknown>} decode
 * @param {number} concurrency
 */
async function throughput(images, decode, concurrency) {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let image = images[next++]; image !== undefined; image = images[next++]) await decode(image);
    }),
  );
  return images.length / ((performance.now() - start) / 1000);
}

const sharpSubset = buffers.slice(0, 2000);
/** @param {Uint8Array} buffer */
const sharpAlone = (buffer) => sharp(buffer).toColourspace('b-w').raw().toBuffer();
/** @type {import('../src/preprocess/spec.js').ImagePreprocessSpec} */
const resized = { ...spec, size: [32, 32] };
/** @type {Record<'plain' | 'sharpAlone' | 'resized', number[]>} */
const decodeRates = { plain: [], sharpAlone: [], resized: [] };
for (let round = 0; round < rounds; round++) {
  decodeRates.plain.push(await throughput(buffers, (b) => decodePixels(spec, b), buffers.length));
  decodeRates.sharpAlone.push(await throughput(sharpSubset, sharpAlone, maxConcurrency()));
  decodeRates.resized.push(await throughput(sharpSubset, (b) => decodePixels(resized, b), sharpSubset.length));
}
/** @type {[name: string, images: number, rates: number[]][]} */
const decodeRows = [
  ['decodeImage, 28×28 → 28×28 (plain-PNG path, no sharp)', buffers.length, decodeRates.plain],
  [`sharp alone: decode + b-w + raw, ${maxConcurrency()} in flight`, sharpSubset.length, decodeRates.sharpAlone],
  ['decodeImage, 28×28 → 32×32 (sharp: decode + Lanczos-3 resize)', sharpSubset.length, decodeRates.resized],
];
console.log(`\n1. Decoding 28×28 grayscale PNGs in memory (${rounds} alternating rounds, median images/s)\n`);
console.log(
  table(
    ['path', 'images', 'images/s', 'min–max'],
    decodeRows.map(([name, n, rates]) => [
      name,
      n,
      fmt(median(rates), 0),
      `${fmt(Math.min(...rates), 0)}–${fmt(Math.max(...rates), 0)}`,
    ]),
  ),
);

// ------------------------------------------------------------ 2. preparing a folder: first run, cache hit

const folders = ['train', 'test'].filter((name) => fs.existsSync(path.join(dataDir, name)));
/** @param {[number, number]} size */
const configFor = (size) =>
  Data.parse(
    Object.fromEntries(
      folders.map((name) => [name, { type: 'images', path: path.join(dataDir, name), size, channels: 1 }]),
    ),
  );
/** @type {Record<string, { first: number[], second: number[] }>} */
const prepareTimes = {};
/** @type {[number, number][]} */
const sizes = [
  [28, 28],
  [32, 32],
];
for (const size of sizes) {
  /** @type {{ first: number[], second: number[] }} */
  const times = { first: [], second: [] };
  prepareTimes[size.join('×')] = times;
  for (let round = 0; round < Math.min(rounds, 3); round++) {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-images-cache-'));
    process.env.DISTILLERY_CACHE_DIR = cache;
    for (const run of /** @type {const} */ (['first', 'second'])) {
      const start = performance.now();
      await prepareData(configFor(size), cache);
      times[run].push(performance.now() - start);
    }
    fs.rmSync(cache, { recursive: true, force: true });
  }
}
const n = buffers.length;
console.log(
  `\n2. prepareData on ${folders.map((f) => `${f}/`).join(' + ')} (${n} files; a fresh cache folder each round; median of ${Math.min(rounds, 3)})\n`,
);
console.log(
  table(
    ['size', 'run', 'ms', 'images/s'],
    Object.entries(prepareTimes).flatMap(([size, times]) => [
      [
        size,
        'first: list, read + sha256, decode, write the .npz',
        fmt(median(times.first), 0),
        fmt(n / (median(times.first) / 1000), 0),
      ],
      [
        size,
        'second: list, read + sha256 — a cache hit',
        fmt(median(times.second), 0),
        fmt(n / (median(times.second) / 1000), 0),
      ],
    ]),
  ),
);

// ------------------------------------------------------------ 3. predict(pngBuffer) vs predict(pixels)

const model = await OnnxModel.load(modelFile, { threads: 1 });
const png = buffers[0];
const pixels = await decodePixels(spec, png);
const jpeg = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
  .resize(56, 56)
  .jpeg({ quality: 90 })
  .toBuffer();
const inputs = [
  ['predict(pixels) — Uint8Array(784)', pixels],
  [`predict(pngBuffer) — ${png.length}-byte 28×28 PNG`, png],
  [`predict(jpegBuffer) — ${jpeg.length}-byte 56×56 JPEG (sharp: decode + resize)`, jpeg],
];
/** @type {number[][]} */
const latency = inputs.map(() => []);
const blockMs = 300;
for (let round = 0; round < rounds; round++) {
  for (const [index, [, input]] of inputs.entries()) {
    const end = performance.now() + blockMs;
    while (performance.now() < end) {
      const start = performance.now();
      await model.predict(input);
      latency[index].push(performance.now() - start);
    }
  }
}
/**
 * @param {number[]} values
 * @param {number} q
 */
const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))];
const batch = {
  pixels: await Promise.all(buffers.slice(0, 256).map((b) => decodePixels(spec, b))),
  png: buffers.slice(0, 256),
};
/** @type {Record<'pixels' | 'png', number[]>} */
const batchRates = { pixels: [], png: [] };
for (let round = 0; round < rounds; round++) {
  for (const key of /** @type {const} */ (['pixels', 'png'])) {
    const start = performance.now();
    let calls = 0;
    while (performance.now() - start < blockMs) {
      await model.predictBatch(batch[key]);
      calls++;
    }
    batchRates[key].push((calls * 256) / ((performance.now() - start) / 1000));
  }
}
await model.close();
const p50 = latency.map((times) => quantile(times, 0.5) * 1000);
console.log(
  `\n3. ${path.relative(ROOT, modelFile)}, 1 thread: predict latency (${rounds} alternating blocks of ${blockMs} ms)\n`,
);
console.log(
  table(
    ['input', 'calls', 'p50 µs', 'p99 µs', 'added p50 µs'],
    inputs.map(([name], index) => [
      name,
      latency[index].length,
      fmt(p50[index], 1),
      fmt(quantile(latency[index], 0.99) * 1000, 1),
      index === 0 ? '—' : fmt(p50[index] - p50[0], 1),
    ]),
  ),
);
console.log(
  `\npredictBatch of 256: pixels ${fmt(median(batchRates.pixels), 0)} rows/s, PNG buffers ${fmt(median(batchRates.png), 0)} rows/s (${fmt(median(batchRates.png) / median(batchRates.pixels), 2)}x)`,
);

writeJson('images.json', {
  data: path.relative(ROOT, dataDir),
  model: path.relative(ROOT, modelFile),
  sharp: sharp.versions,
  decode: Object.fromEntries(
    decodeRows.map(([name, count, rates]) => [name, { images: count, imagesPerSecond: rates }]),
  ),
  prepareMs: prepareTimes,
  predictMicroseconds: Object.fromEntries(
    inputs.map(([name], index) => [
      name,
      { calls: latency[index].length, p50: p50[index], p99: quantile(latency[index], 0.99) * 1000 },
    ]),
  ),
  predictBatch256RowsPerSecond: batchRates,
});
