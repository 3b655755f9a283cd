// Shared helpers for the Node-side benchmarks: machine info, tables, JSON output, statistics.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'out');
const require = createRequire(import.meta.url);

/**
 * The compiled modules the benchmarks load, typed from their sources (dist/ is src/ compiled, file for file), so
 * that lint checks the benchmarks against the library's real API and a moved module is caught here, not mid-run.
 * @typedef {{
 *   'index.js': typeof import('../src/index.js'),
 *   'config/schema.js': typeof import('../src/config/schema.js'),
 *   'data/images.js': typeof import('../src/data/images.js'),
 *   'data/index.js': typeof import('../src/data/index.js'),
 *   'data/table.js': typeof import('../src/data/table.js'),
 *   'engine/commands.js': typeof import('../src/engine/commands.js'),
 *   'engine/environment.js': typeof import('../src/engine/environment.js'),
 *   'preprocess/image.js': typeof import('../src/preprocess/image.js'),
 *   'preprocess/spec.js': typeof import('../src/preprocess/spec.js'),
 *   'preprocess/table.js': typeof import('../src/preprocess/table.js'),
 *   'preprocess/text.js': typeof import('../src/preprocess/text.js'),
 *   'runtime/index.js': typeof import('../src/runtime/index.js'),
 *   'runtime/model-file.js': typeof import('../src/runtime/model-file.js'),
 *   'runtime/model.js': typeof import('../src/runtime/model.js'),
 *   'runtime/session.js': typeof import('../src/runtime/session.js'),
 *   'teacher/answers.js': typeof import('../src/teacher/answers.js'),
 *   'teacher/cache.js': typeof import('../src/teacher/cache.js'),
 *   'teacher/schedule.js': typeof import('../src/teacher/schedule.js'),
 * }} DistModules
 */

/**
 * A module of the compiled library (run `node scripts/bootstrap.js` first to build dist/).
 * @template {keyof DistModules} Entry
 * @param {Entry} entry
 * @returns {DistModules[Entry]}
 */
export function dist(entry) {
  const file = path.join(ROOT, 'dist', entry);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`node scripts/bootstrap.js\` first`);
  /** @type {unknown} */ const loaded = require(file); // `unknown`, then the typed view: `require` itself returns `any`
  return /** @type {DistModules[Entry]} */ (loaded);
}

/** onnxruntime-node as the library loads it (the repository's node_modules), for raw sessions to compare with. */
export function onnxruntime() {
  /** @type {unknown} */ const loaded = require(path.join(ROOT, 'node_modules', 'onnxruntime-node'));
  return /** @type {typeof import('onnxruntime-node')} */ (loaded);
}

/**
 * Parses JSON whose shape the caller knows (a report, a child's result line): the one place the benchmarks trust it.
 * @template T
 * @param {string} text
 * @returns {T}
 */
export function parseJson(text) {
  /** @type {unknown} */ const value = JSON.parse(text);
  return /** @type {T} */ (value);
}

/**
 * The last line a child process printed: its JSON result, after any logging.
 * @param {string} output
 */
export const lastLine = (output) => output.trim().split('\n').pop() ?? '';

/** The engine's interpreter: DISTILLERY_PYTHON, else the cached environment (made on first use; see `distillery setup`). */
export const PYTHON = await dist('engine/environment.js').resolveInterpreter();

/** The machine a result was measured on, recorded with every result file. */
export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = execFileSync('lscpu', { encoding: 'utf8' })
      .split('\n')
      .find((l) => l.startsWith('Model name:'));
    if (line) cpu = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // no lscpu
  }
  return {
    cpu,
    cores: os.cpus().length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtStart: os.loadavg().map((v) => +v.toFixed(2)),
  };
}

/**
 * The value after `--name` on the command line, else the fallback.
 * @param {string} name
 * @param {string} fallback
 * @returns {string}
 */
export function arg(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return (index >= 0 ? process.argv[index + 1] : undefined) ?? fallback;
}
/** @param {string} name */
export const flag = (name) => process.argv.includes(`--${name}`);

/**
 * Writes a result file under OUT, stamped with the time, the command line and the machine.
 * @param {string} name
 * @param {Record<string, unknown>} value
 */
export function writeJson(name, value) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, name);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        createdAt: new Date().toISOString(),
        command: `node ${process.argv
          .slice(1)
          .map((a) => path.relative(ROOT, a) || a)
          .join(' ')}`,
        machine: machine(),
        ...value,
      },
      null,
      2,
    ),
  );
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

/**
 * A plain-text table, columns padded to their widest cell.
 * @param {string[]} header
 * @param {(string | number)[][]} rows
 */
export function table(header, rows) {
  const body = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  /** @param {string[]} r */
  const line = (r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * The median (NaN for no values).
 * @param {number[]} values
 */
export const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  const upper = s[m] ?? NaN;
  return s.length % 2 ? upper : ((s[m - 1] ?? NaN) + upper) / 2;
};
/**
 * A number with `d` decimals; NaN, infinities and missing values as they print.
 * @param {number | null | undefined} v
 */
export const fmt = (v, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : String(v));
