// Soak test of run folders (issue "nothing lost, nothing mixed"; not part of CI):
// N runs of a tiny experiment, each interrupted at a random moment — SIGINT or SIGKILL, sent to the CLI or to
// its Python engine — then resumed with --resume until it finishes. Every final folder must pass
// `distillery verify` and hold the same metrics as an uninterrupted run of the same experiment.
//
//   node bench/soak-runs.mjs [--runs 30] [--seed 1]
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, arg, machine, parseJson, writeJson } from './lib.mjs';

/** @typedef {{ code: number | null, signal: NodeJS.Signals | null, stderr: string }} Outcome */
/** @typedef {{ killAfterMs?: number, signal?: NodeJS.Signals, target?: 'cli' | 'engine' }} Interruption */

const CLI = path.join(ROOT, 'bin', 'distillery.js');
const RUNS = Number(arg('runs', '30'));
let random = Number(arg('seed', '1'));
/** A small deterministic generator (mulberry32), so a soak can be replayed. */
function uniform() {
  random = (random + 0x6d2b79f5) | 0;
  let t = Math.imul(random ^ (random >>> 15), 1 | random);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const training = { epochs: 4, batchSize: 32 };
const experiment = {
  name: 'soak',
  device: 'cpu',
  data: { train: { type: 'mnist', split: 'train', limit: 800 }, test: { type: 'mnist', split: 'test', limit: 200 } },
  teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training },
  students: [
    { name: 'hard', model: { type: 'mlp', hidden: [16] }, method: { type: 'hard-labels' }, training },
    { name: 'soft', model: { type: 'mlp', hidden: [16] }, method: { type: 'soft-targets', temperature: 4 }, training },
  ],
  evaluate: { benchmark: false },
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-soak-'));
const file = path.join(work, 'soak.json');
fs.writeFileSync(file, JSON.stringify(experiment));

/**
 * Runs the CLI with `args`, optionally sending `signal` to it or to its engine after `killAfterMs`.
 * @param {string[]} args
 * @param {Interruption} [interruption]
 * @returns {Promise<Outcome>}
 */
function cli(args, { killAfterMs, signal, target } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (/** @type {string} */ chunk) => (stderr += chunk));
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    if (killAfterMs !== undefined) {
      timer = setTimeout(() => {
        const victim = target === 'engine' ? enginePidOf(child.pid) : child.pid;
        if (victim) {
          try {
            process.kill(victim, signal);
          } catch {
            // already gone
          }
        }
      }, killAfterMs);
    }
    child.on('exit', (code, killedBy) => {
      clearTimeout(timer);
      resolve({ code, signal: killedBy, stderr });
    });
  });
}

/**
 * The CLI's Python engine: its child running pythonia's interface.py.
 * @param {number | undefined} parent
 */
function enginePidOf(parent) {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('interface.py'))
        return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * Each model's test errors and NLL, which an interrupted and resumed run must reproduce.
 * @param {string} folder
 */
const metricsOf = (folder) => {
  /** @type {import('../src/experiment/report-types.js').RunReport} */
  const report = parseJson(fs.readFileSync(path.join(folder, 'report.json'), 'utf8'));
  return Object.fromEntries(
    [report.teacher, ...report.students].map(({ name, test }) => {
      if (!('errors' in test))
        throw new Error(`${name}: the soak experiment is a classifier, its report has no errors`);
      return [name, { errors: test.errors, nll: +test.nll.toFixed(6) }];
    }),
  );
};

const started = Date.now();
const reference = path.join(work, 'reference');
const first = await cli(['run', file, '--out', reference]);
if (first.code !== 0) throw new Error(`the uninterrupted run failed:\n${first.stderr}`);
const referenceSeconds = (Date.now() - started) / 1000;
const expected = metricsOf(reference);

/** @type {{ index: number, kind: string, killAfterMs: number, resumeExit: number | null, verify: string, stderr: string }[]} */
const failures = [];
const counts = {
  runs: 0,
  interrupted: 0,
  finishedBeforeTheSignal: 0,
  resumes: 0,
  verified: 0,
  sameMetrics: 0,
  failures,
};
/** @type {Record<string, number>} */
const bySignal = {};
for (let index = 0; index < RUNS; index++) {
  const out = path.join(work, `run-${index}`);
  /** @type {NodeJS.Signals} */
  const signal = uniform() < 0.5 ? 'SIGINT' : 'SIGKILL';
  /** @type {'cli' | 'engine'} */
  const target = uniform() < 0.5 ? 'cli' : 'engine';
  const killAfterMs = Math.round(1000 + uniform() * referenceSeconds * 1000);
  const kind = `${signal} to the ${target}`;
  bySignal[kind] = (bySignal[kind] ?? 0) + 1;
  counts.runs++;
  const interrupted = await cli(['run', file, '--out', out], { killAfterMs, signal, target });
  if (interrupted.code === 0) counts.finishedBeforeTheSignal++;
  else counts.interrupted++;
  let last = interrupted;
  for (let attempt = 0; last.code !== 0 && attempt < 3; attempt++) {
    counts.resumes++;
    last = await cli(['run', file, '--out', out, '--resume']);
  }
  const verify = await cli(['verify', out]);
  const same = last.code === 0 && JSON.stringify(metricsOf(out)) === JSON.stringify(expected);
  if (verify.code === 0) counts.verified++;
  if (same) counts.sameMetrics++;
  if (verify.code !== 0 || !same)
    counts.failures.push({
      index,
      kind,
      killAfterMs,
      resumeExit: last.code,
      verify: verify.stderr.trim().slice(0, 500),
      stderr: last.stderr.slice(-500),
    });
  process.stderr.write(
    `run ${index + 1}/${RUNS}: ${kind} after ${killAfterMs} ms → exit ${interrupted.code ?? interrupted.signal ?? '?'}; resumed → ${last.code ?? last.signal ?? '?'}; verify ${verify.code === 0 ? 'ok' : 'FAILED'}; metrics ${same ? 'equal' : 'DIFFER'}\n`,
  );
}
// An engine whose CLI died is re-parented (to pid 1 here): none may be left running.
const orphans = execFileSync('sh', ['-c', "ps -eo ppid,args | awk '$1 == 1 && /interface.py/' | wc -l"], {
  encoding: 'utf8',
}).trim();
const result = {
  machine: machine(),
  command: `node bench/soak-runs.mjs --runs ${RUNS}`,
  referenceSeconds,
  bySignal,
  ...counts,
  orphanEngines: Number(orphans),
  seconds: (Date.now() - started) / 1000,
};
writeJson('soak-runs.json', result);
console.log(JSON.stringify({ ...result, failures: result.failures.length }, null, 2));
fs.rmSync(work, { recursive: true, force: true });
process.exitCode = counts.failures.length === 0 ? 0 : 1;
