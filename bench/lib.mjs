// Shared helpers for the Node-side benchmarks: machine info, tables, JSON output, statistics.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'out');
export const require = createRequire(import.meta.url);

/** The compiled library (run `node scripts/bootstrap.js` first to build dist/). */
export function dist(entry = 'index.js') {
  const file = path.join(ROOT, 'dist', entry);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`node scripts/bootstrap.js\` first`);
  return require(file);
}

/** The engine's interpreter: DISTILLERY_PYTHON, else the cached environment (made on first use; see `distillery setup`). */
export const PYTHON = await dist('engine/environment.js').resolveInterpreter();

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = execFileSync('lscpu', { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('Model name:'));
    if (line) cpu = line.split(':')[1].trim();
  } catch {
    // no lscpu
  }
  return { cpu, cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavgAtStart: os.loadavg().map((v) => +v.toFixed(2)) };
}

export function arg(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && index + 1 < process.argv.length ? process.argv[index + 1] : fallback;
}
export const flag = (name) => process.argv.includes(`--${name}`);

export function writeJson(name, value) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, name);
  fs.writeFileSync(file, JSON.stringify({ createdAt: new Date().toISOString(), command: `node ${process.argv.slice(1).map((a) => path.relative(ROOT, a) || a).join(' ')}`, machine: machine(), ...value }, null, 2));
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(all[0]), line(widths.map((w) => '-'.repeat(w))), ...all.slice(1).map(line)].join('\n');
}

export const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const fmt = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
