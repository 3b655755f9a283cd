import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../src/config';
import {
  Engine,
  EngineAbortError,
  EngineCrashedError,
  EngineStartError,
  PythonError,
  type Commands,
  type EngineEvent,
} from '../src/engine';
import { closeIfOpened } from './support/hooks';
import { tempDir } from './support/tiny';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A request that trains long enough to be interrupted: many tiny epochs on a slice of MNIST. */
function longTraining(outDir: string, epochs = 500): Commands['train_teacher']['request'] {
  return {
    device: 'cpu',
    outDir,
    export: false,
    data: { train: { type: 'mnist', split: 'train', limit: 512 }, test: { type: 'mnist', split: 'test', limit: 128 } },
    teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, training: { epochs, batchSize: 64 } },
  };
}

describe('Engine (the pythonia bridge)', () => {
  let engine: Engine;
  const outDir = tempDir('engine');

  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(() => closeIfOpened(engine));

  test('starts Python with torch and answers a round trip', async () => {
    const hello = await engine.call('hello', {});
    expect(hello.torch).toMatch(/^2\./);
    expect(hello.pid).toBe(engine.pid);
    expect(isAlive(hello.pid)).toBe(true);
  });

  test('only one engine per process', async () => {
    await expect(Engine.start()).rejects.toThrow(/already open/);
  });

  test('a Python exception becomes a typed error with type, field, file and traceback', async () => {
    const request = longTraining(outDir, 1);
    request.data = { ...request.data, train: { type: 'file', path: '/nonexistent/train.npz' } };
    const error = await engine.call('train_teacher', request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    const python = error as PythonError;
    expect(python.pythonType).toBe('DataError');
    expect(python.field).toBe('data.train.path');
    expect(python.file).toBe('/nonexistent/train.npz');
    expect(python.message).toContain('file not found');
    expect(python.pythonTraceback).toContain('Traceback');
    expect(python.pythonTraceback).toContain('data.py');
  });

  test('an unexpected Python exception keeps its type and message', async () => {
    // A user module whose constructor raises: nothing in the engine expects a TypeError there.
    const request = longTraining(outDir, 1);
    request.teacher = {
      type: 'train',
      model: { type: 'custom', module: 'torch.nn:Linear', kwargs: { in_features: 'many' } },
    };
    const error = await engine.call('train_teacher', request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect((error as PythonError).pythonType).toBe('TypeError');
    expect((error as PythonError).pythonTraceback).toContain('models.py');
  });

  test('a request is checked by the seam before it crosses the bridge, naming the field', async () => {
    const bad = { ...longTraining(outDir, 1), nonsense: true } as unknown as Commands['train_teacher']['request'];
    const error = await engine.call('train_teacher', bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('nonsense');
  });

  test('streams throttled progress events', async () => {
    const events: EngineEvent[] = [];
    const started = Date.now();
    const result = await engine.call('train_teacher', longTraining(outDir, 3), {
      onEvent: (event) => events.push(event),
    });
    const seconds = (Date.now() - started) / 1000;
    expect(result.history).toHaveLength(3);
    expect(events.filter((e) => e.event === 'epoch').map((e) => (e as { epoch: number }).epoch)).toEqual([1, 2, 3]);
    expect(events[0]).toMatchObject({ event: 'phase-start', phase: 'teacher', epochs: 3 });
    expect(events.at(-1)).toMatchObject({ event: 'phase-end', phase: 'teacher' });
    // Throttled: at most ~4 step events per second (plus one), whatever the number of batches (24 here).
    expect(events.filter((e) => e.event === 'step').length).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 1);
  });

  test('an AbortSignal stops training between batches; the engine stays usable', async () => {
    const controller = new AbortController();
    let epochs = 0;
    const call = engine.call('train_teacher', longTraining(outDir), {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'epoch' && ++epochs === 2) controller.abort();
      },
    });
    await expect(call).rejects.toBeInstanceOf(EngineAbortError);
    expect(epochs).toBeLessThanOrEqual(3);
    const hello = await engine.call('hello', {});
    expect(hello.pid).toBe(engine.pid);
  });

  test('an already-aborted signal never reaches Python', async () => {
    await expect(engine.call('hello', {}, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(EngineAbortError);
  });

  test('killing Python mid-call rejects within 2 s with EngineCrashedError; close() stays idempotent', async () => {
    const pid = engine.pid!;
    let killedAt = 0;
    const call = engine.call('train_teacher', longTraining(outDir), {
      onEvent: (event) => {
        if (event.event === 'epoch' && !killedAt) {
          killedAt = Date.now();
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    await expect(call).rejects.toBeInstanceOf(EngineCrashedError);
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(isAlive(pid)).toBe(false);
    await expect(engine.call('hello', {})).rejects.toBeInstanceOf(EngineCrashedError);
    await engine.close();
    await engine.close();
    // A new engine starts cleanly after a crash.
    engine = await Engine.start();
    expect((await engine.call('hello', {})).pid).not.toBe(pid);
  });

  test('close() leaves no Python process', async () => {
    const pid = engine.pid!;
    await engine.close();
    expect(isAlive(pid)).toBe(false);
    engine = await Engine.start();
  });
});

describe('Engine start failures', () => {
  test('a missing interpreter gives a clear start error with a fix', async () => {
    await expect(Engine.start({ python: '/nonexistent/python3' })).rejects.toThrow(EngineStartError);
  });

  test('an interpreter without torch says what to install', async () => {
    const bare = execFileSync('python3', ['-c', 'import sys; print(sys.executable)']).toString().trim();
    let hasTorch = true;
    try {
      execFileSync(bare, ['-c', 'import torch'], { stdio: 'ignore' });
    } catch {
      hasTorch = false;
    }
    // The system Python of a fresh machine has no torch; make sure of it with an empty venv otherwise.
    const python = hasTorch ? makeBareVenv() : bare;
    const error = await Engine.start({ python }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineStartError);
    expect((error as EngineStartError).message).toMatch(/No module named 'torch'|ModuleNotFoundError/);
    expect((error as EngineStartError).fix).toContain('pip install -r requirements.txt');
  });
});

function makeBareVenv(): string {
  const folder = tempDir('bare-venv');
  execFileSync('python3', ['-m', 'venv', '--without-pip', folder]);
  return path.join(folder, 'bin', 'python');
}

describe('Engine lifetime', () => {
  test('a script that forgets close() still exits, and its Python goes with it', async () => {
    // Runs the compiled engine (npm test builds dist/ first) in a child Node process.
    const script = `
      const { Engine } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'engine'))});
      (async () => {
        const engine = await Engine.start();
        const hello = await engine.call('hello', {});
        process.stdout.write(String(hello.pid));
      })();`;
    const started = Date.now();
    const pid = Number(execFileSync(process.execPath, ['-e', script], { timeout: 60_000 }).toString());
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(pid).toBeGreaterThan(0);
    // Python sees its parent go (the death signal, or its pipe closing) and exits; on a loaded machine that can
    // take a moment after Node has gone, so wait for it — a few seconds, never the 60 s of a leak.
    const deadline = Date.now() + 10_000;
    while (isRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(isRunning(pid)).toBe(false);
  });
});

/** Alive and not a zombie (a killed child waits for init to reap it, which can take a moment here). */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
