// `distillery/web` figures (docs/BENCHMARKS.md, "In the browser"), side by side in one run on one machine:
//   1. rows/s at batch 1 and 256 for each model given: onnxruntime-web (WebAssembly) in headless Chromium with 1 and
//      with 4 threads, against onnxruntime-node (distillery/runtime) with 1 and with its default threads — the same
//      measuring function in both (`measure` below, sent to the page as it is);
//   2. the example page: time to first prediction (navigation start → its first digit prediction, the four models
//      loaded) and the bytes a first visit transfers (gzip), by kind, against the page's budget (scripts/web.js).
//
//   npm run build && node bench/web.mjs runs/demo/soft-t20.onnx runs/demo/mimic-bottleneck.onnx [--seconds 2]
//
// Needs Chromium (apt-get install -y --no-install-recommends chromium, or CHROMIUM_PATH).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

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
const seconds = secondsAt >= 0 ? Number(process.argv[secondsAt + 1]) : 2;
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
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} file
 * @param {number} threads
 */
async function browserFigures(browser, url, file, threads) {
  const page = await browser.newPage();
  await page.goto(`${url}?threads=${String(threads)}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  const wasmPaths = new URL('ort/', url).href;
  const figures = await page.evaluate(measure, {
    source: `bench/${path.basename(file)}`,
    options: { wasmPaths },
    seconds,
  });
  const ran = await page.evaluate(() =>
    /** @type {{ distillery: typeof import('../src/web/index.js') }} */ (
      /** @type {unknown} */ (globalThis)
    ).distillery.wasmThreads(),
  );
  await page.close();
  return { ...figures, threads: ran };
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
  const table = [];
  for (const file of models) {
    const node1 = await measure({ source: file, options: { threads: 1 }, seconds });
    const nodeDefault = await measure({ source: file, options: {}, seconds });
    const web1 = await browserFigures(browser, server.url, file, 1);
    const web4 = await browserFigures(browser, server.url, file, 4);
    console.log(JSON.stringify({ model: path.basename(file), node1, nodeDefault, web1, web4 }));
    const name = path.basename(file);
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
