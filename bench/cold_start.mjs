// Cold start and demo wall time.
//  1. Engine.start() -> first call answered, in fresh Node processes (Python start, torch import, pythonia handshake),
//     with `python -c "from distillery import api"` (torch included) alongside for what Python alone costs;
//  2. the demo: `node scripts/bootstrap.js` (the no-op check a ready checkout pays) and
//     `node bin/distillery.js run examples/demo.json` (what `npm run demo` runs), timed from outside.
//
//   node scripts/bootstrap.js && node bench/cold_start.mjs [--trials 3] [--no-demo]
//
// The demo runs with this process's environment: set OMP_NUM_THREADS to pin torch's threads (recorded in the JSON).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OUT, PYTHON, ROOT, arg, dist, flag, fmt, lastLine, median, parseJson, table, writeJson } from './lib.mjs';

/** @typedef {{ requireMs: number, startMs: number, firstCallMs: number, startToFirstAnswerMs: number }} ChildTimes */

if (flag('child')) {
  const t0 = performance.now();
  const { Engine } = dist('index.js');
  const loaded = performance.now();
  const engine = await Engine.start();
  const started = performance.now();
  await engine.call('hello', {});
  const answered = performance.now();
  await engine.close();
  console.log(
    JSON.stringify({
      requireMs: loaded - t0,
      startMs: started - loaded,
      firstCallMs: answered - started,
      startToFirstAnswerMs: answered - loaded,
    }),
  );
  process.exit(0);
}

const trials = Number(arg('trials', '3'));
/** @type {ChildTimes[]} */
const runs = [];
/** @type {number[]} */
const pythonImports = [];
for (let i = 0; i < trials; i++) {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'bench', 'cold_start.mjs'), '--child'], {
    encoding: 'utf8',
  });
  runs.push(parseJson(lastLine(out)));
  const t = performance.now();
  execFileSync(PYTHON, ['-c', 'from distillery import api'], {
    env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') },
  });
  pythonImports.push(performance.now() - t);
}
console.log(`\nCold start, ${trials} fresh Node processes (median)`);
console.log(
  table(
    ['step', 'ms'],
    [
      ["require('distillery')", fmt(median(runs.map((r) => r.requireMs)), 0)],
      ['Engine.start() (spawn Python, import torch + engine, hello)', fmt(median(runs.map((r) => r.startMs)), 0)],
      ['first call answered after start', fmt(median(runs.map((r) => r.firstCallMs)), 1)],
      ['Engine.start() -> first call answered', fmt(median(runs.map((r) => r.startToFirstAnswerMs)), 0)],
      ['for comparison: python -c "from distillery import api" (own process)', fmt(median(pythonImports), 0)],
    ],
  ),
);

let demo = null;
if (!flag('no-demo')) {
  const outDir = path.join(OUT, 'demo');
  fs.rmSync(outDir, { recursive: true, force: true });
  let t = performance.now();
  const boot = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.js')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const bootstrapSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const run = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bin', 'distillery.js'), 'run', 'examples/demo.json', '--out', outDir, '--json'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 28,
    },
  );
  const runSeconds = (performance.now() - t) / 1000;
  if (boot.status !== 0 || run.status !== 0)
    throw new Error(`demo failed (bootstrap ${String(boot.status)}, run ${String(run.status)})`);
  /** @type {import('../src/experiment/report-types.js').RunReport} */
  const report = parseJson(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8'));
  const trainSeconds = [report.teacher, ...report.students].reduce((s, m) => s + m.trainSeconds, 0);
  demo = {
    bootstrapNoopSeconds: bootstrapSeconds,
    runSeconds,
    reportDurationSeconds: report.durationSeconds,
    trainSeconds,
    ompNumThreads: process.env.OMP_NUM_THREADS ?? null,
    outDir: path.relative(ROOT, outDir),
  };
  console.log(`\nDemo (examples/demo.json -> ${demo.outDir}; OMP_NUM_THREADS=${demo.ompNumThreads ?? 'unset'})`);
  console.log(
    table(
      ['step', 's'],
      [
        ['node scripts/bootstrap.js (ready checkout: stamp checks only)', fmt(bootstrapSeconds, 2)],
        ['node bin/distillery.js run examples/demo.json (wall)', fmt(runSeconds, 1)],
        ['  of which training (teacher + 3 students, fit() clocks)', fmt(trainSeconds, 1)],
      ],
    ),
  );
}
writeJson('cold_start.json', {
  trials,
  runs,
  pythonImportMs: pythonImports,
  medianStartToFirstAnswerMs: median(runs.map((r) => r.startToFirstAnswerMs)),
  demo,
});
