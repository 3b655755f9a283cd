/**
 * The engine's Python environment (src/engine/environment.ts) and the checkout's bootstrap: clear errors
 * without a usable Python, the no-op speed, and set-up under a lock — concurrent set-ups, a stale lock, an
 * unfinished environment. Set-ups here use a requirements file without packages, in a temporary home, so
 * pip has nothing to download (a venv takes ~5 s).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EnvironmentError, LockHeldError } from '../src/engine';
import { ensureEnvironment, environmentDir, environmentPython, resolveInterpreter } from '../src/engine/environment';
import { distilleryHome } from '../src/io/home';
import { acquireLock, readLockOwner } from '../src/io/lock';
import { ROOT, tempDir } from './support/tiny';

const BOOTSTRAP = path.join(ROOT, 'scripts', 'bootstrap.js');

/** A requirements file that names no package: pip runs and has nothing to install. */
function tinyRequirements(): string {
  const file = path.join(tempDir('requirements'), 'requirements.txt');
  fs.writeFileSync(file, `# test environment ${Date.now()} ${Math.random()}: no packages\n`);
  return file;
}

function collect(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

/** What a home holds apart from environments: locks, staging or trash folders would be leftovers. */
function leftovers(home: string): string[] {
  return fs.readdirSync(home).filter((name) => !/^python-[0-9a-f]{12}$/.test(name));
}

beforeAll(() => {
  // Makes dist/ current (the concurrency test runs it in child processes) and the checkout ready.
  const result = spawnSync(process.execPath, [BOOTSTRAP, '--dev', '--quiet'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bootstrap failed: ${result.stderr}`);
}, 900_000);

describe('finding Python', () => {
  test('no Python on PATH: one clear message saying what to install', async () => {
    const home = tempDir('home');
    const error = await ensureEnvironment({
      home,
      requirements: tinyRequirements(),
      env: { PATH: tempDir('no-python') },
      log: null,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).step).toBe('find-python');
    expect((error as Error).message).toContain('Python 3.10+ was not found on PATH');
    expect((error as EnvironmentError).fix).toContain('DISTILLERY_PYTHON');
    expect((error as EnvironmentError).fix).toMatch(/install it/);
    expect(fs.readdirSync(home)).toEqual([]); // no environment, no lock left behind
  });

  test('a too-old python3: says which version it found and what is needed', async () => {
    const bin = tempDir('old-python');
    fs.writeFileSync(path.join(bin, 'python3'), '#!/bin/sh\necho 3.8\n'); // the fake's #!/bin/sh needs no PATH
    fs.chmodSync(path.join(bin, 'python3'), 0o755);
    const error = await ensureEnvironment({
      home: tempDir('home'),
      requirements: tinyRequirements(),
      env: { PATH: bin },
      log: null,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).step).toBe('python-too-old');
    expect((error as Error).message).toContain('python3 is Python 3.8, but Distillery needs 3.10+');
    expect((error as EnvironmentError).fix).toContain('DISTILLERY_PYTHON');
  });

  test('venv failing (no ensurepip, as on Debian without python3-venv): says to install the venv module', async () => {
    const bin = tempDir('no-venv');
    const fake =
      '#!/bin/sh\nif [ "$1" = "-c" ]; then echo 3.11; exit 0; fi\necho "The virtual environment was not created successfully because ensurepip is not available." >&2\nexit 1\n';
    fs.writeFileSync(path.join(bin, 'python3'), fake);
    fs.chmodSync(path.join(bin, 'python3'), 0o755);
    const home = tempDir('home');
    const error = await ensureEnvironment({
      home,
      requirements: tinyRequirements(),
      env: { PATH: bin },
      log: null,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).step).toBe('venv');
    expect((error as Error).message).toMatch(
      /creating the virtual environment .* failed: `python3 -m venv` exited with code 1:\n.*ensurepip is not available/,
    );
    expect((error as EnvironmentError).fix).toContain('python3-venv');
    expect(fs.readdirSync(home)).toEqual([]);
  });

  test('pip failing: its last lines and a fix; the half-made environment and the lock are gone', async () => {
    const home = tempDir('home');
    const requirements = path.join(tempDir('requirements'), 'requirements.txt');
    fs.writeFileSync(requirements, '--no-index\ndistillery-test-no-such-package\n'); // fails offline, looks nothing up
    const error = await ensureEnvironment({ home, requirements, log: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as EnvironmentError).step).toBe('pip');
    expect((error as Error).message).toMatch(
      /installing the Python packages of requirements\.txt into .* failed: .* exited with code 1:\n[\s\S]*distillery-test-no-such-package/,
    );
    expect((error as EnvironmentError).fix).toContain('npx distillery setup');
    expect(fs.readdirSync(home)).toEqual([]);
  }, 60_000);

  test('DISTILLERY_PYTHON is used as it is: nothing is created', async () => {
    const home = tempDir('home');
    const env = { DISTILLERY_PYTHON: '/usr/bin/python3', DISTILLERY_HOME: home };
    await expect(resolveInterpreter(undefined, { env })).resolves.toBe('/usr/bin/python3');
    expect(fs.readdirSync(home)).toEqual([]);
  });

  test('the home: DISTILLERY_HOME, else $XDG_CACHE_HOME/distillery, else ~/.cache/distillery', () => {
    expect(distilleryHome({ DISTILLERY_HOME: '/a', XDG_CACHE_HOME: '/b', HOME: '/c' })).toBe('/a');
    expect(distilleryHome({ XDG_CACHE_HOME: '/b', HOME: '/c' })).toBe(path.join('/b', 'distillery'));
    expect(distilleryHome({ HOME: '/c' })).toBe(path.join('/c', '.cache', 'distillery'));
    const requirements = tinyRequirements();
    expect(path.basename(environmentDir({ home: '/h', requirements }))).toMatch(/^python-[0-9a-f]{12}$/);
  });
});

describe('the checkout bootstrap', () => {
  test('with nothing to do it returns at once', () => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [BOOTSTRAP, '--dev', '--quiet'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('setting up under a lock', () => {
  const home = tempDir('home');
  const requirements = tinyRequirements();
  const dir = environmentDir({ home, requirements });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  /** A set-up in its own Node process, through the built module (what `distillery setup` runs). */
  function setupProcess(): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'engine', 'environment.js'))})
      .ensureEnvironment({ home: ${JSON.stringify(home)}, requirements: ${JSON.stringify(requirements)}, pollMs: 200 })
      .then((python) => console.log(python), (error) => { console.error(error.message); process.exitCode = 3; });`;
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  test('two concurrent set-ups: one builds, the other waits; both succeed with one complete environment', async () => {
    const [a, b] = await Promise.all([setupProcess(), setupProcess()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stdout.trim()).toBe(environmentPython(dir));
    expect(b.stdout.trim()).toBe(environmentPython(dir));
    const both = a.stderr + b.stderr;
    expect(both.match(/creating the Python environment/g)).toHaveLength(1);
    expect(both).toMatch(/waiting for pid \d+ \(setting up the Python environment/);
    expect(fs.readFileSync(path.join(dir, '.distillery-complete'), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.existsSync(environmentPython(dir))).toBe(true);
    expect(leftovers(home)).toEqual([]);
  }, 120_000);

  test('an environment without its completion stamp is removed and rebuilt', async () => {
    fs.writeFileSync(path.join(dir, 'half-installed-package'), '');
    fs.rmSync(path.join(dir, '.distillery-complete'));
    const { lines, log } = collect();
    await expect(ensureEnvironment({ home, requirements, log })).resolves.toBe(environmentPython(dir));
    expect(lines.join('\n')).toMatch(/its set-up did not finish/);
    expect(fs.existsSync(path.join(dir, 'half-installed-package'))).toBe(false);
    expect(fs.existsSync(path.join(dir, '.distillery-complete'))).toBe(true);
    // complete now: the next call only reads the stamp
    const started = Date.now();
    const again = collect();
    await ensureEnvironment({ home, requirements, log: again.log });
    expect(again.lines).toEqual([]);
    expect(Date.now() - started).toBeLessThan(200);
  }, 120_000);

  test('a lock left by a dead process is taken over at once', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // exited and reaped: its pid is free
    fs.rmSync(path.join(dir, '.distillery-complete'));
    fs.mkdirSync(`${dir}.lock`);
    const owner = {
      pid: dead,
      hostname: os.hostname(),
      started: null,
      since: new Date().toISOString(),
      purpose: 'setting up the Python environment',
      token: 'dead',
    };
    fs.writeFileSync(path.join(`${dir}.lock`, 'owner.json'), JSON.stringify(owner));
    const { lines, log } = collect();
    const started = Date.now();
    await expect(ensureEnvironment({ home, requirements, log, pollMs: 200 })).resolves.toBe(environmentPython(dir));
    expect(lines.join('\n')).not.toMatch(/waiting/);
    expect(lines.join('\n')).toMatch(/creating the Python environment/);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(leftovers(home)).toEqual([]);
  }, 120_000);

  test('a lock held by a live process: `wait: false` fails at once naming its pid', async () => {
    const lockPath = path.join(tempDir('lock'), 'run.lock');
    const held = await acquireLock(lockPath, { purpose: 'training' });
    try {
      const error = await acquireLock(lockPath, { wait: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as LockHeldError).pid).toBe(process.pid);
      expect((error as Error).message).toContain(`pid ${process.pid} (training`);
      await expect(acquireLock(lockPath, { timeoutMs: 300, pollMs: 50 })).rejects.toThrow(/gave up waiting/);
    } finally {
      held.release();
    }
    expect(readLockOwner(lockPath)).toBeNull();
    (await acquireLock(lockPath, { wait: false })).release(); // free again
  });
});
