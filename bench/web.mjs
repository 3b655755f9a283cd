// `distillery/web` figures (docs/BENCHMARKS.md, "In the browser"), side by side in one run on one machine:
//   1. rows/s at batch 1 and 256 for each model given: onnxruntime-web (WebAssembly) in headless Chromium with 1 and
//      with 4 threads, against onnxruntime-node (distillery/runtime) with 1 and with its default threads — the same
//      measuring function in both (`measure` below, sent to the page as it is);
//   2. the example page: time to first prediction (navigation start → its first digit prediction, the four models
//      loaded) and the bytes a first visit transfers (gzip), by kind, against the page's budget (scripts/web.js);
//   3. images that need resizing (the one documented difference): 1,000 held-out digits as 56×56 PNGs through the
//      example's PNG-trained student, Node (libvips Lanczos-3) against the page (the browser's resampler): top-1
//      agreement and the largest probability difference.
//
//   npm run build && node bench/web.mjs runs/demo/soft-t20.onnx runs/demo/mimic-bottleneck.onnx [--seconds 1] [--rounds 5]
//
// The four modes alternate round by round (each `--seconds` per batch size); each figure is the median round.
//
// Needs Chromium (apt-get install -y --no-install-recommends chromium, or CHROMIUM_PATH).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';

const require = createRequire(import.meta.url);
/** @typedef {{ path: string, bytes: number }} Sent */
/** @typedef {{ javascript: number, wasm: number, models: number, other: number, total: number }} Transferred */
/**
 * @typedef {object} WebScript
 * @property {(out: string) => Promise<unknown>} buildExample
 * @property {(dir: string, port: number) => Promise<{ url: string, sent: Sent[], close(): Promise<void> }>} serveFolder
 * @property {(sent: Sent[]) => Transferred} transferred
 * @property {Omit<Transferred, 'other'>} BUDGET
 */
/** @type {unknown} */ const script = require('../scripts/web.js'); // `require` returns `any`
const { buildExample, serveFolder, transferred, BUDGET } = /** @type {WebScript} */ (script);
/** @type {unknown} */ const runtime = require('../dist/runtime/index.js');
/** @typedef {{ OnnxModel: typeof import('../src/runtime/index.js').OnnxModel }} Runtime */

const secondsAt = process.argv.indexOf('--seconds');
const seconds = secondsAt >= 0 ? Number(process.argv[secondsAt + 1]) : 1;
const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
const models = process.argv.slice(2).filter((arg) => arg.endsWith('.onnx'));
if (models.length === 0) {
  console.error('usage: node bench/web.mjs model.onnx [...] [--seconds 2]');
  process.exit(2);
}

function chromiumPath() {
  const found = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'].find((file) => file && fs.existsSync(file));
  if (found === undefined) throw new Error('no Chromium: apt-get install -y --no-install-recommends chromium');
  return found;
}

/**
 * rows/s at batch 1 (predict, one after another) and 256 (predictBatch), each for `seconds` after 20 warm-up calls,
 * on deterministic pixel-like values 0-255. Self-contained: it runs in Node and, sent as it is, in the page; both
 * find the runtime at `globalThis.distillery`.
 * @param {{ source: string, options: Record<string, unknown>, seconds: number }} job
 * @returns {Promise<{ batch1: number, batch256: number }>}
 */
async function measure({ source, options, seconds: budget }) {
  const { OnnxModel } = /** @type {{ distillery: Runtime }} */ (/** @type {unknown} */ (globalThis)).distillery;
  const model = await OnnxModel.load(source, options);
  const features = model.info.input.shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: 256 * features }, (_, i) => (i * 7919) % 256);
  /** @param {number} batch */
  const rate = async (batch) => {
    const run = () => (batch === 1 ? model.predict(data.subarray(0, features)) : model.predictBatch(data));
    for (let i = 0; i < 20; i++) await run();
    let rows = 0;
    const start = performance.now();
    while (performance.now() - start < budget * 1000) {
      await run();
      rows += batch;
    }
    return (rows * 1000) / (performance.now() - start);
  };
  const result = { batch1: await rate(1), batch256: await rate(256) };
  await model.close();
  return result;
}

/**
 * A page of the example with `threads` WebAssembly threads, its models loaded.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {number} threads
 */
async function openBenchPage(browser, url, threads) {
  const page = await browser.newPage();
  await page.goto(`${url}?threads=${String(threads)}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  return page;
}

/** @param {import('playwright-core').Page} page */
function wasmThreadsOf(page) {
  return page.evaluate(() =>
    /** @type {{ distillery: { OnnxModel: { load(source: unknown, options?: Record<string, unknown>): Promise<import('../src/runtime/onnx-model.js').OnnxModelBase> }, wasmThreads(): number | null } }} */ (
      /** @type {unknown} */ (globalThis)
    ).distillery.wasmThreads(),
  );
}

/**
 * Each rate's median over the rounds.
 * @param {{ batch1: number, batch256: number }[]} rounds
 */
function medians(rounds) {
  /** @param {number[]} values */
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  return { batch1: median(rounds.map((r) => r.batch1)), batch256: median(rounds.map((r) => r.batch256)) };
}

/**
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {Sent[]} sent
 */
async function pageFigures(browser, url, sent) {
  sent.length = 0;
  const context = await browser.newContext(); // a first visit: nothing cached
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  const firstPredictionMs = await page.evaluate(
    () => /** @type {{ firstPredictionMs: number }} */ (/** @type {unknown} */ (globalThis)).firstPredictionMs,
  );
  await context.close();
  return { firstPredictionMs, ...transferred(sent), files: sent.map((file) => `${file.path} ${String(file.bytes)}`) };
}

/**
 * Part 3: the same 56×56 PNGs in Node and in the page, through the example's digits-png student.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} site
 */
async function resizeFigures(browser, url, site) {
  const { OnnxModel, loadDataset } = /** @type {typeof import('../src/runtime/index.js')} */ (runtime);
  const digits = await loadDataset('models/mnist-heldout.npz');
  const count = 1000;
  const pngs = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      sharp(Buffer.from(Uint8Array.from(digits.x.subarray(i * 784, (i + 1) * 784))), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .resize(56, 56, { kernel: 'nearest' })
        .png()
        .toBuffer(),
    ),
  );
  fs.writeFileSync(path.join(site, 'bench', 'big.bin'), Buffer.concat(pngs));
  fs.writeFileSync(path.join(site, 'bench', 'big.json'), JSON.stringify(pngs.map((png) => png.length)));
  const model = await OnnxModel.load(path.join(site, 'models', 'digits-png.onnx'));
  const node = (await model.predictBatch(pngs.map((png) => new Uint8Array(png)))).map((p) =>
    p.task === 'classification' ? p.probabilities : [],
  );
  await model.close();
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  const browserProbabilities = await page.evaluate(async (wasmPaths) => {
    const web =
      /** @type {{ distillery: { OnnxModel: { load(source: unknown, options?: Record<string, unknown>): Promise<import('../src/runtime/onnx-model.js').OnnxModelBase> }, wasmThreads(): number | null } }} */ (
        /** @type {unknown} */ (globalThis)
      ).distillery;
    const bytes = new Uint8Array(await (await fetch('bench/big.bin')).arrayBuffer());
    const lengths = /** @type {number[]} */ (await (await fetch('bench/big.json')).json());
    let offset = 0;
    const inputs = lengths.map((length) => bytes.slice(offset, (offset += length)));
    const loaded = await web.OnnxModel.load('models/digits-png.onnx', { wasmPaths });
    const predictions = await loaded.predictBatch(inputs);
    await loaded.close();
    return predictions.map((p) => (p.task === 'classification' ? p.probabilities : []));
  }, new URL('ort/', url).href);
  await page.close();
  /** @param {number[]} row */
  const top = (row) => row.indexOf(Math.max(...row));
  let agree = 0;
  let maxDifference = 0;
  node.forEach((row, i) => {
    const other = browserProbabilities[i] ?? [];
    if (top(row) === top(other)) agree++;
    row.forEach((value, j) => (maxDifference = Math.max(maxDifference, Math.abs(value - (other[j] ?? NaN)))));
  });
  return { images: count, topOneAgreement: agree / count, maxProbabilityDifference: maxDifference };
}

/** @param {number} value */
const fmt = (value) => Math.round(value).toLocaleString('en-US');

const site = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'web-bench-')), 'site');
await buildExample(site);
fs.mkdirSync(path.join(site, 'bench'));
for (const file of models) fs.copyFileSync(file, path.join(site, 'bench', path.basename(file)));
const server = await serveFolder(site, 0);
const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
Object.assign(globalThis, { distillery: runtime });
try {
  console.log(JSON.stringify({ page: await pageFigures(browser, server.url, server.sent), budget: BUDGET }, null, 2));
  console.log(JSON.stringify({ resize: await resizeFigures(browser, server.url, site) }));
  const table = [];
  for (const file of models) {
    const name = path.basename(file);
    // Two pages, opened once: the WebAssembly runtime's threads are fixed per page.
    const pages = {
      web1: await openBenchPage(browser, server.url, 1),
      web4: await openBenchPage(browser, server.url, 4),
    };
    /** @type {Record<'node1' | 'nodeDefault' | 'web1' | 'web4', { batch1: number, batch256: number }[]>} */
    const rounds = { node1: [], nodeDefault: [], web1: [], web4: [] };
    const source = `bench/${name}`;
    const wasmPaths = new URL('ort/', server.url).href;
    // Modes alternate round by round, so that a drift of the shared machine hits every mode alike; medians below.
    for (let round = 0; round < ROUNDS; round++) {
      rounds.node1.push(await measure({ source: file, options: { threads: 1 }, seconds }));
      rounds.nodeDefault.push(await measure({ source: file, options: {}, seconds }));
      rounds.web1.push(await pages.web1.evaluate(measure, { source, options: { wasmPaths }, seconds }));
      rounds.web4.push(await pages.web4.evaluate(measure, { source, options: { wasmPaths }, seconds }));
    }
    const threads = { web1: await wasmThreadsOf(pages.web1), web4: await wasmThreadsOf(pages.web4) };
    await Promise.all([pages.web1.close(), pages.web4.close()]);
    const node1 = medians(rounds.node1);
    const nodeDefault = medians(rounds.nodeDefault);
    const web1 = { ...medians(rounds.web1), threads: threads.web1 };
    const web4 = { ...medians(rounds.web4), threads: threads.web4 };
    console.log(JSON.stringify({ model: name, rounds, node1, nodeDefault, web1, web4 }));
    table.push(`| ${name} | onnxruntime-node | 1 | ${fmt(node1.batch1)} | ${fmt(node1.batch256)} | | |`);
    table.push(
      `| ${name} | onnxruntime-node | default (${String(os.availableParallelism())} cores) | ${fmt(nodeDefault.batch1)} | ${fmt(nodeDefault.batch256)} | | |`,
    );
    for (const [web, node, label] of /** @type {const} */ ([
      [web1, node1, '1'],
      [web4, nodeDefault, '4'],
    ]))
      table.push(
        `| ${name} | onnxruntime-web (wasm) | ${label} (ran ${String(web.threads)}) | ${fmt(web.batch1)} | ${fmt(web.batch256)} | ${(web.batch1 / node.batch1).toFixed(2)}× | ${(web.batch256 / node.batch256).toFixed(2)}× |`,
      );
  }
  console.log('\n| model | runtime | threads | rows/s b=1 | rows/s b=256 | b=1 / Node | b=256 / Node |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
  for (const line of table) console.log(line);
} finally {
  await browser.close();
  await server.close();
}
