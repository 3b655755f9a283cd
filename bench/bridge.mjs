// Bridge overhead: one distillation driven from TypeScript (the facade's distill() on a shared Engine, through
// pythonia) vs the same request run by a plain Python script calling api.call('distill', …) in its own process.
// Same student, data, epochs and torch threads; the two alternate, round by round.
//
//   node scripts/bootstrap.js && node bench/bridge.mjs [--rounds 3] [--epochs 3] [--threads 1]
//
// samples/s = samples trained / the training loop's own seconds (fit(): every epoch, its test evaluation and
// progress events included); "call s" = the whole distill call (data, cached teacher outputs, checkpoint).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { OUT, PYTHON, ROOT, arg, dist, fmt, lastLine, median, parseJson, table, writeJson } from './lib.mjs';

/** @typedef {import('../src/engine/types.js').ModelResult} ModelResult */
/** @typedef {{ samplesPerSecond: number, callSeconds: number, trainSeconds: number, threads?: number }} Side */
/** @typedef {{ bridge: Side, direct: Side, ratio: number }} Trial */

const rounds = Number(arg('rounds', '3'));
const epochs = Number(arg('epochs', '3'));
const threads = arg('threads', '1');
// torch (OpenMP/MKL) reads these when it starts: the engine's Python inherits them, as does the direct script.
process.env.OMP_NUM_THREADS = threads;
process.env.MKL_NUM_THREADS = threads;

const { Engine, distill, trainTeacher, DistillOptions } = dist('index.js');
const outDir = path.join(OUT, 'bridge');
const student = {
  name: 'bridge-student',
  model: { type: 'mlp', hidden: [800, 800] },
  method: { type: 'soft-targets', temperature: 20, alpha: 0.9 },
  training: {
    epochs,
    batchSize: 128,
    optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true },
    schedule: { type: 'cosine' },
  },
};

const engine = await Engine.start();
try {
  const doctor = await engine.call('doctor', {});
  let teacher = path.join(OUT, 'teacher-embedded', 'checkpoints', 'teacher.pt');
  if (!fs.existsSync(teacher)) {
    const trained = await trainTeacher(
      {
        outDir,
        device: 'cpu',
        export: false,
        teacher: { type: 'train', model: { type: 'mlp', hidden: [1200, 1200], dropout: 0.5 }, training: { epochs: 1 } },
      },
      { engine },
    );
    teacher = trained.checkpoint;
  }
  const options = { outDir, device: 'cpu', seed: 0, teacher, student, export: false };
  // The very request the facade sends, for the Python side (outDir apart, so the two never share files).
  const parsed = DistillOptions.parse(options);
  // completed by the engine's own request schema, as Engine.call does (it adds data.preprocess: null)
  const request = dist('engine/commands.js').DistillRequest.parse({
    ...parsed,
    outDir: path.join(outDir, 'direct'),
    teacher: path.resolve(teacher),
  });
  fs.mkdirSync(outDir, { recursive: true });
  const requestFile = path.join(outDir, 'request.json');
  fs.writeFileSync(requestFile, JSON.stringify(request, null, 2));

  let events = 0;
  const viaBridge = async (epochCount = epochs) => {
    const started = performance.now();
    const result = await distill(
      { ...options, student: { ...student, training: { ...student.training, epochs: epochCount } } },
      { engine, onEvent: () => events++ },
    );
    return {
      samplesPerSecond: samples(result),
      callSeconds: (performance.now() - started) / 1000,
      trainSeconds: result.trainSeconds,
    };
  };
  const direct = () => {
    const out = execFileSync(PYTHON, [path.join(ROOT, 'bench', 'bridge_direct.py'), requestFile], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    /** @type {{ result: ModelResult, wallSeconds: number, threads: number }} */
    const { result, wallSeconds, threads: pyThreads } = parseJson(lastLine(out));
    return {
      samplesPerSecond: samples(result),
      callSeconds: wallSeconds,
      trainSeconds: result.trainSeconds,
      threads: pyThreads,
    };
  };

  await viaBridge(1); // warm-up: the engine process loads the data and the teacher's outputs once, as a long-lived engine does
  /** @type {Trial[]} */
  const trials = [];
  for (let round = 0; round < rounds; round++) {
    /** @param {'bridge' | 'direct'} side */
    const measure = async (side) => {
      const measured = side === 'bridge' ? await viaBridge() : direct();
      process.stderr.write(`round ${round + 1} ${side}: ${fmt(measured.samplesPerSecond, 0)} samples/s\n`);
      return measured;
    };
    // alternate which side goes first, so that neither always runs on a warmer machine
    let bridge, plain;
    if (round % 2 === 0) {
      bridge = await measure('bridge');
      plain = await measure('direct');
    } else {
      plain = await measure('direct');
      bridge = await measure('bridge');
    }
    trials.push({ bridge, direct: plain, ratio: bridge.samplesPerSecond / plain.samplesPerSecond });
  }
  const directThreads = trials[0]?.direct.threads ?? null;
  const ratio = median(trials.map((t) => t.ratio));
  const rows = trials.map((t, i) => [
    i + 1,
    fmt(t.bridge.samplesPerSecond, 0),
    fmt(t.direct.samplesPerSecond, 0),
    fmt(t.ratio, 3),
    fmt(t.bridge.callSeconds, 2),
    fmt(t.direct.callSeconds, 2),
  ]);
  rows.push([
    'median',
    fmt(median(trials.map((t) => t.bridge.samplesPerSecond)), 0),
    fmt(median(trials.map((t) => t.direct.samplesPerSecond)), 0),
    fmt(ratio, 3),
    '',
    '',
  ]);
  console.log(
    `\nBridge overhead: ${student.model.hidden.join('x')} soft-targets student, embedded MNIST (8000), ${epochs} epochs, torch threads ${doctor.threads} (bridge) / ${directThreads ?? '?'} (direct)`,
  );
  console.log(
    table(
      ['round', 'TS via bridge samples/s', 'plain Python samples/s', 'ratio', 'bridge call s', 'python call s'],
      rows,
    ),
  );
  console.log(
    `goal: ratio >= 0.98 -> ${ratio >= 0.98 ? 'met' : 'MISSED'} (${events} progress events crossed the bridge)`,
  );
  writeJson('bridge.json', {
    epochs,
    rounds,
    threads: { bridge: doctor.threads, direct: directThreads },
    student,
    teacher,
    trials,
    medianRatio: ratio,
    goal: 0.98,
    met: ratio >= 0.98,
    progressEvents: events,
  });
} finally {
  await engine.close();
}

/**
 * Samples trained per second of the training loop's own clock.
 * @param {ModelResult} result
 */
function samples(result) {
  const n = result.history.reduce((total, h) => total + h.samplesPerSecond * h.seconds, 0);
  return n / result.trainSeconds;
}
