/**
 * Reliability (issue 7): a run killed mid-training resumes from its last epoch and ends exactly where an
 * uninterrupted run ends; a run writes only under its output folder and leaves no temporary files;
 * an abort stops training within a batch and the engine stays usable.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Engine,
  EngineAbortError,
  EngineCrashedError,
  run,
  type EngineEvent,
  type ExperimentInput,
  type RunReport,
} from '../src';
import { OnnxModel, loadDataset } from '../src/runtime';
import { enginePids, tempDir, tinyData } from './support/tiny';

/** Outputs of the A and B students on the same rows may differ by at most this much (CPU: bit-identical is expected). */
const TOLERANCE = 1e-6;

const experiment: ExperimentInput = {
  name: 'resume',
  seed: 0,
  device: 'cpu',
  data: tinyData,
  teacher: {
    type: 'train',
    model: { type: 'mlp', hidden: [32] },
    training: { epochs: 2, batchSize: 64, optimizer: { type: 'adam', lr: 0.003 } },
  },
  students: [
    {
      name: 'soft',
      // dropout, a cosine schedule and momentum: the random streams, the scheduler and the optimiser state must all resume
      model: { type: 'mlp', hidden: [16], dropout: 0.2 },
      method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
      training: {
        epochs: 4,
        batchSize: 64,
        optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
        schedule: { type: 'cosine' },
      },
    },
  ],
  evaluate: { benchmark: false, baselines: false }, // one student: the resume is what is tested here
};
const KILL_AFTER_EPOCH = 2;

/** Every file under `dir`, with its size and mtime, relative to `dir`. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of fs.readdirSync(dir, { recursive: true }).map(String)) {
    const stat = fs.statSync(path.join(dir, name));
    files.set(name, stat.isDirectory() ? 'dir' : `${stat.size}:${stat.mtimeMs}`);
  }
  return files;
}

function temporaries(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => path.basename(name).startsWith('.tmp-') || name.includes('.tmp-'));
}

async function logits(onnx: string, rows: Float32Array[]): Promise<number[][]> {
  const model = await OnnxModel.load(onnx);
  try {
    return (await model.predictBatch(rows)).map((p) => ('logits' in p && p.logits ? Array.from(p.logits) : []));
  } finally {
    await model.close();
  }
}

describe('crash and resume: SIGKILL after a student epoch, then run(..., { resume: true })', () => {
  const parentA = tempDir('reliability-a');
  const outA = path.join(parentA, 'out');
  const parentB = tempDir('reliability-b');
  const outB = path.join(parentB, 'out');
  let reportA: RunReport;
  let reportB: RunReport;
  const resumedEvents: EngineEvent[] = [];
  let crash: unknown;
  const pidsBefore = enginePids();

  beforeAll(async () => {
    // A: uninterrupted. Its parent folder is snapshotted: the run may write under outA only.
    fs.writeFileSync(path.join(parentA, 'untouched.txt'), 'x');
    const before = snapshot(parentA);
    reportA = await run(experiment, { outDir: outA });
    const after = snapshot(parentA);
    for (const [name, state] of before) expect(after.get(name)).toBe(state);
    expect(
      [...after.keys()].filter((name) => !before.has(name) && name !== 'out' && !name.startsWith(`out${path.sep}`)),
    ).toEqual([]);

    // B: the same experiment; Python is SIGKILLed as soon as the student announces epoch KILL_AFTER_EPOCH.
    const engine = await Engine.start();
    const pid = engine.pid!;
    let killedAt = 0;
    crash = await run(experiment, {
      engine,
      outDir: outB,
      onEvent: (event) => {
        if (event.event === 'epoch' && event.phase === 'student' && event.epoch === KILL_AFTER_EPOCH && !killedAt) {
          killedAt = Date.now();
          process.kill(pid, 'SIGKILL');
        }
      },
    }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(Date.now() - killedAt).toBeLessThan(2000);
    await engine.close();
    // What a kill in the middle of a write leaves: temporaries, never a file under its final name.
    fs.writeFileSync(path.join(outB, '.tmp-999999-soft.onnx'), 'half an onnx');
    fs.writeFileSync(path.join(outB, 'checkpoints', '.tmp-abcdef-soft.state.pt'), 'half a state');

    // B resumed on a fresh engine (run() starts and closes it).
    reportB = await run(experiment, { outDir: outB, resume: true, onEvent: (event) => resumedEvents.push(event) });
  });

  test('the kill rejected the call with EngineCrashedError and left no Python process', () => {
    expect(crash).toBeInstanceOf(EngineCrashedError);
    expect(enginePids().filter((pid) => !pidsBefore.includes(pid))).toEqual([]);
  });

  test('the resumed run kept the teacher and lost no finished epoch', () => {
    const starts = resumedEvents.filter((event) => event.event === 'phase-start');
    expect(starts).toEqual([
      expect.objectContaining({ phase: 'student', name: 'soft', startEpoch: KILL_AFTER_EPOCH, epochs: 4 }),
    ]);
    expect(resumedEvents).toContainEqual({ event: 'log', message: 'teacher: already finished, kept' });
    const epochs = resumedEvents
      .filter((event) => event.event === 'epoch')
      .map((event) => (event as { epoch: number }).epoch);
    expect(epochs).toEqual([3, 4]);
  });

  test(`it ends with the same student as the uninterrupted run (tolerance ${TOLERANCE})`, async () => {
    const [a, b] = [reportA.students[0]!, reportB.students[0]!];
    expect(b.test).toEqual(a.test); // accuracy, errors, NLL, ECE, top-k: identical
    expect(b.history.map((h) => h.loss)).toEqual(a.history.map((h) => h.loss));
    expect(b.history.map((h) => h.testAccuracy)).toEqual(a.history.map((h) => h.testAccuracy));
    expect(reportB.teacher.test).toEqual(reportA.teacher.test);

    const test = await loadDataset(path.join(outA, 'data', 'test.npz'));
    const width = test.sampleShape.reduce((x, y) => x * y, 1);
    const rows = Array.from({ length: 64 }, (_, i) => Float32Array.from(test.x.subarray(i * width, (i + 1) * width)));
    const [fromA, fromB] = [
      await logits(path.join(outA, 'soft.onnx'), rows),
      await logits(path.join(outB, 'soft.onnx'), rows),
    ];
    let maxDiff = 0;
    fromA.forEach((row, i) =>
      row.forEach((value, j) => (maxDiff = Math.max(maxDiff, Math.abs(value - fromB[i]![j]!)))),
    );
    expect(fromA[0]).toHaveLength(10);
    expect(maxDiff).toBeLessThanOrEqual(TOLERANCE);
  });

  test('no temporary file survives the completed resume (stale ones from the kill included)', () => {
    expect(temporaries(outB)).toEqual([]);
    expect(temporaries(outA)).toEqual([]);
    expect(fs.existsSync(path.join(outB, 'report.json'))).toBe(true);
  });
});

describe('cancellation', () => {
  test('an abort stops training within a batch (the call rejects within 1 s) and the engine stays usable', async () => {
    const engine = await Engine.start();
    try {
      const controller = new AbortController();
      let abortedAt = 0;
      let lastStep = 0;
      // 8000 rows in batches of 8: 1000 steps per epoch, 50 epochs — minutes of work if nothing stops it.
      const long = {
        device: 'cpu',
        outDir: tempDir('reliability-cancel'),
        export: false as const,
        data: {
          train: { type: 'mnist' as const, split: 'train' as const },
          test: { type: 'mnist' as const, split: 'test' as const, limit: 64 },
        },
        teacher: {
          type: 'train' as const,
          model: { type: 'mlp' as const, hidden: [16] },
          training: { epochs: 50, batchSize: 8, optimizer: { type: 'sgd' as const, lr: 0.01 } },
        },
      };
      const call = engine.call('train_teacher', long, {
        signal: controller.signal,
        onEvent: (event) => {
          if (event.event === 'step') lastStep = event.step;
          // From a timer, not from inside the callback: the SIGUSR1 path, while Python is mid-batch.
          if (event.event === 'phase-start')
            setTimeout(() => {
              abortedAt = Date.now();
              controller.abort();
            }, 1500);
        },
      });
      const error = await call.then(
        () => null,
        (caught: unknown) => caught,
      );
      const latency = Date.now() - abortedAt;
      expect(error).toBeInstanceOf(EngineAbortError);
      expect(abortedAt).toBeGreaterThan(0);
      expect(latency).toBeLessThan(1000);
      expect(lastStep).toBeLessThan(1000); // it stopped inside the first epoch
      expect(engine.isOpen).toBe(true);
      // The same engine (the same Python) then does real work.
      const pid = engine.pid;
      const short = {
        ...long,
        teacher: { ...long.teacher, training: { ...long.teacher.training, epochs: 1, batchSize: 64 } },
        data: { ...long.data, train: { ...long.data.train, limit: 256 } },
      };
      const result = await engine.call('train_teacher', short);
      expect(result.history).toHaveLength(1);
      expect(engine.pid).toBe(pid);
    } finally {
      await engine.close();
    }
  });
});

describe('atomic writes', () => {
  test('TypeScript writes files only through writeFileAtomic (scan of src/, alongside the behavioural tests above)', () => {
    const src = path.join(__dirname, '..', 'src');
    // The files that may write directly, each with the reason; a file that moves or goes fails the check below.
    const exceptions = new Map([
      [path.join('io', 'files.ts'), 'writeFileAtomic, linkFileAtomic and the output-folder probe live here'],
      [path.join('io', 'lock.ts'), 'the cross-process lock: an atomic rename of its staging folder is its primitive'],
      [path.join('cli', 'variant-files.ts'), 'all-or-none variants: finished files are renamed from a staging folder'],
    ]);
    for (const name of exceptions.keys()) expect(fs.existsSync(path.join(src, name))).toBe(true);
    const offenders: string[] = [];
    for (const name of fs
      .readdirSync(src, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.ts'))) {
      if (exceptions.has(name)) continue;
      fs.readFileSync(path.join(src, name), 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (
            /\b(writeFileSync|writeFile|createWriteStream|appendFileSync|appendFile|copyFileSync|renameSync|rename)\(/.test(
              line.replace(/\/\/.*$/, ''),
            ) &&
            !line.includes('writeFileAtomic(')
          ) {
            offenders.push(`${name}:${index + 1}: ${line.trim()}`);
          }
        });
    }
    expect(offenders).toEqual([]);
  });
});
