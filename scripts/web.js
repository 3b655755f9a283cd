#!/usr/bin/env node
'use strict';
// The example page of `distillery/web` (examples/web): built with esbuild, served by a small static server that
// sends the cross-origin isolation headers onnxruntime-web needs for WebAssembly threads.
//
//   npm run web                      build into examples/web/dist and serve it on http://127.0.0.1:5173
//   node scripts/web.js --port 8000  another port (0: any free one)
//   node scripts/web.js --build      build only
//   node scripts/web.js --library    build dist/web/index.mjs, the package's browser entry (part of `npm run build`)
//
// The browser tests (test/web.test.ts) and bench/web.mjs build and serve the page with these same functions.
const esbuild = require('esbuild');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const zlib = require('node:zlib');

const ROOT = path.resolve(__dirname, '..');
const EXAMPLE = path.join(ROOT, 'examples', 'web');
const ORT_DIST = path.join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
/**
 * onnxruntime-web's WebAssembly runtime (loaded from `wasmPaths`): its glue module and its binary; and the WebGPU
 * build's (asyncify), fetched only by a page that asks for `backend: 'webgpu'`.
 */
const ORT_FILES = [
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
];
/** The page's models: the shipped MNIST student, and the example students trained for the page (examples/web/*.json). */
const MODELS = [
  path.join(ROOT, 'models', 'mnist-student.onnx'),
  path.join(EXAMPLE, 'models', 'digits-png.onnx'),
  path.join(EXAMPLE, 'models', 'penguins.onnx'),
  path.join(EXAMPLE, 'models', 'sentiment.onnx'),
];

/**
 * The example page's budget: bytes over the wire (gzip) for a first visit, by kind. test/web.test.ts holds the page
 * to it; docs/BENCHMARKS.md ("In the browser") gives the measured figures and why these numbers.
 */
const BUDGET = { javascript: 250_000, wasm: 4_000_000, models: 3_000_000, total: 7_000_000 };

/** The kind of a served file, for the budget. @param {string} file */
function kindOf(file) {
  if (/\.m?js$/.test(file)) return 'javascript';
  if (file.endsWith('.wasm')) return 'wasm';
  if (file.endsWith('.onnx')) return 'models';
  return 'other';
}

/**
 * Bytes sent, by kind, and the total.
 * @param {{ path: string, bytes: number }[]} sent
 */
function transferred(sent) {
  const kinds = { javascript: 0, wasm: 0, models: 0, other: 0 };
  for (const { path: file, bytes } of sent) kinds[kindOf(file)] += bytes;
  return { ...kinds, total: kinds.javascript + kinds.wasm + kinds.models + kinds.other };
}

/**
 * Builds the page into `out`: main.js (and its lazily loaded chunks), the HTML and CSS, the models, onnxruntime-web's
 * runtime files. `distillery/web` resolves to the sources, as a project that installs the package resolves it to dist.
 * @param {string} out
 * @param {{ minify?: boolean }} [options]
 * @returns {Promise<{ out: string, files: string[] }>}
 */
async function buildExample(out, options = {}) {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, 'models'), { recursive: true });
  fs.mkdirSync(path.join(out, 'ort'), { recursive: true });
  await esbuild.build({
    entryPoints: { main: path.join(EXAMPLE, 'src', 'main.ts') },
    outdir: out,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    // onnxruntime-web's build that fetches its glue and .wasm from `wasmPaths` (here ./ort/): its worker threads
    // load the glue module by URL, which a bundle that inlines it cannot give them.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    alias: { 'distillery/web': path.join(ROOT, 'src', 'web', 'index.ts') },
    tsconfig: path.join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(EXAMPLE, file), path.join(out, file));
  for (const model of MODELS) fs.copyFileSync(model, path.join(out, 'models', path.basename(model)));
  for (const file of ORT_FILES) fs.copyFileSync(path.join(ORT_DIST, file), path.join(out, 'ort', file));
  return { out, files: listFiles(out) };
}

/**
 * `distillery/web` as the package ships it: one ES module for browsers (tsc's CommonJS output is for Node). The
 * package's dependencies stay imports, for the project's bundler to resolve and share, except
 * @huggingface/tokenizers, which the shared tokenizer code loads with require() (see src/preprocess/text.ts): it is
 * bundled, so that no require() is left for a browser.
 * @returns {Promise<string>} the file written
 */
async function buildLibrary() {
  const out = path.join(ROOT, 'dist', 'web', 'index.mjs');
  /** @type {unknown} */ const parsed = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const manifest = /** @type {{ dependencies: Record<string, string> }} */ (parsed);
  const external = Object.keys(manifest.dependencies).filter((name) => name !== '@huggingface/tokenizers');
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'src', 'web', 'index.ts')],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external: [...external, 'onnxruntime-web'],
    tsconfig: path.join(ROOT, 'tsconfig.json'),
    logLevel: 'warning',
  });
  return out;
}

/** @param {string} dir @returns {string[]} paths relative to dir */
function listFiles(dir) {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

/** @type {Record<string, string | undefined>} */
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};

/**
 * Serves `dir` on 127.0.0.1 with COOP/COEP (cross-origin isolation: WebAssembly threads) and gzip when asked for.
 * Only files under `dir`; anything else is 404.
 * @param {string} dir
 * @param {number} port 0: any free port
 * @returns {Promise<{ url: string, server: http.Server, sent: { path: string, bytes: number }[], close: () => Promise<void> }>}
 */
function serveFolder(dir, port) {
  const root = path.resolve(dir);
  /** @type {{ path: string, bytes: number }[]} what was sent, for the transferred-bytes figures */
  const sent = [];
  /** @type {Map<string, Buffer>} */
  const gzipped = new Map();
  const server = http.createServer((request, response) => {
    let relative;
    try {
      relative = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname).replace(/^\/+/, '');
    } catch {
      response.writeHead(400, { 'Content-Type': 'text/plain' }).end('malformed URL'); // e.g. a cut %-escape
      return;
    }
    if (relative === '') relative = 'index.html'; // the folder itself: its page
    const file = path.resolve(root, relative);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    const plain = fs.readFileSync(file);
    /** @type {Record<string, string>} */
    const headers = {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    };
    let body = plain;
    if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) {
      body = gzipped.get(file) ?? zlib.gzipSync(plain, { level: 9 });
      gzipped.set(file, body);
      headers['Content-Encoding'] = 'gzip';
    }
    sent.push({ path: relative, bytes: body.length });
    response.writeHead(200, { ...headers, 'Content-Length': body.length }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`;
      resolve({ url, server, sent, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  const portIndex = args.indexOf('--port');
  const port = portIndex >= 0 ? Number(args[portIndex + 1]) : 5173;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: expected 0-65535, got ${String(args[portIndex + 1])}`);
  if (args.includes('--library')) {
    // Silent on success: `npm pack --json` (prepack) must print nothing but its JSON.
    await buildLibrary();
    return;
  }
  const out = path.join(EXAMPLE, 'dist');
  const { files } = await buildExample(out);
  console.log(`built ${files.length} files into ${path.relative(ROOT, out)}`);
  if (args.includes('--build')) return;
  const { url } = await serveFolder(out, port);
  console.log(`serving the example page on ${url} (Ctrl-C to stop)`);
}

module.exports = { buildExample, buildLibrary, serveFolder, transferred, BUDGET, EXAMPLE, ORT_FILES };

if (require.main === module) {
  main().catch((/** @type {unknown} */ error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
