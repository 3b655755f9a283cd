/**
 * The Engine owns the Python process (through pythonia) and makes coarse,
 * JSON-in/JSON-out calls into python/distillery/bridge.py.
 *
 * pythonia leaves four gaps this class closes:
 * - it does not notice Python dying (a call just hangs): we watch the child's
 *   `exit` and reject every pending call with EngineCrashedError at once;
 * - its exceptions arrive with an empty message: the bridge never raises, it
 *   returns an envelope that becomes a typed error here;
 * - its IPC channel keeps Node alive until `python.exit()`: we unref the
 *   channel whenever no call is in flight, so a script that forgets close()
 *   still exits (and the Python side exits when its parent goes away);
 * - calls are serialised, so a cancel cannot be a second call: abort sends
 *   SIGUSR1, which sets a flag that the training loop checks between batches.
 */
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { PYTHON_PACKAGE_DIR, pythonProcessEnv, resolveInterpreter } from './environment';
import {
  EngineAbortError,
  EngineClosedError,
  EngineCrashedError,
  EngineError,
  EngineStartError,
  errorFromPython,
  type PythonErrorInfo,
} from './errors';
import { COMMANDS, EngineEvent as EngineEventSchema, HelloResult as HelloResultSchema, checked } from './commands';
import type { CommandName, Commands, EngineEvent, HelloResult } from './types';
import { parseWith } from '../config';

/** The few parts of pythonia this module touches, typed so no `any` escapes. */
interface PythoniaBridgeModule {
  invoke$(
    command: string,
    request: string,
    onEvent: (json: string) => boolean,
    kwargs: { $timeout: number },
  ): Promise<string>;
}
/** pythonia's module-level Bridge (globalThis.__pythonBridge): its com, its JS-side handler of Python's calls, its GC timer. */
interface PythoniaSharedBridge {
  loop?: NodeJS.Timeout;
  com?: { register(id: string, handler: (message: unknown) => unknown): void };
  jsi: { onMessage(message: unknown): unknown };
}
interface Pythonia {
  python: ((module: string) => Promise<PythoniaBridgeModule>) & { exit(): void };
  com: { proc: (ChildProcess & { channel?: { ref(): void; unref(): void } | null }) | null; start(): void };
}

/** Options of {@link Engine.start}. */
export interface EngineOptions {
  /**
   * Python interpreter; default DISTILLERY_PYTHON, else the environment Distillery keeps in its cache
   * folder (made on first use, with progress lines on stderr: see `npx distillery setup`).
   */
  python?: string;
  /** After an abort, how long Python may take to reach a batch boundary before it is killed. Default 15 s. */
  abortGraceMs?: number;
}

/** Options of one engine call ({@link Engine.call}, {@link trainTeacher}, {@link distill}). */
export interface CallOptions {
  /**
   * Cancels the call: Python stops at the next batch boundary and the call rejects with {@link EngineAbortError}; the
   * engine stays usable (Python is killed if it does not stop within `abortGraceMs`).
   */
  signal?: AbortSignal;
  /** Receives each progress event (phase start, epoch, phase end…) as Python sends it, validated. */
  onEvent?: (event: EngineEvent) => void;
}

type Envelope<T> = { ok: true; result?: T } | { ok: false; error: PythonErrorInfo };

let openEngine: Engine | null = null;
/** The running Python child, killed synchronously if Node exits without close(). */
let liveChild: ChildProcess | null = null;

/**
 * The Python process that trains and exports models, driven through pythonia. Start one to share between several
 * calls (each {@link trainTeacher}, {@link distill} or {@link run} otherwise starts and closes its own); close it
 * when done, or it keeps Node alive. Only one may be open per Node process.
 *
 * @example
 * ```ts
 * import { Engine, trainTeacher } from 'distillery';
 *
 * const engine = await Engine.start();
 * try {
 *   await trainTeacher({ outDir: 'runs/mine', teacher: { type: 'train', model: { type: 'mlp', hidden: [256] } } }, { engine });
 * } finally {
 *   await engine.close();
 * }
 * ```
 */
export class Engine {
  private closed = false;
  private crashed: EngineCrashedError | null = null;
  private inFlight = 0;
  private readonly rejectors = new Set<(error: Error) => void>();
  private readonly onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    this.crashed = new EngineCrashedError(code, signal);
    for (const reject of this.rejectors) reject(this.crashed);
    this.rejectors.clear();
    if (!this.closed) this.shutdown();
  };

  private constructor(
    private readonly pythonia: Pythonia,
    private readonly bridge: PythoniaBridgeModule,
    private readonly child: NonNullable<Pythonia['com']['proc']>,
    /** What the engine reported at start-up: the versions of Distillery, Python and torch, the interpreter, CUDA. */
    readonly info: HelloResult,
    private readonly abortGraceMs: number,
  ) {
    child.once('exit', this.onExit);
    this.idle();
  }

  /**
   * Starts Python and checks that the engine (and torch) import. Only one Engine may be open per Node
   * process at a time, because pythonia runs a single Python process per Node process.
   */
  static async start(options: EngineOptions = {}): Promise<Engine> {
    if (openEngine && !openEngine.closed) {
      throw new EngineError('an Engine is already open in this process: reuse it, or close() it first');
    }
    const python = await resolveInterpreter(options.python);
    const pythonia = loadPythonia(python);
    const child = pythonia.com.proc;
    if (!child)
      throw new EngineStartError('pythonia did not start Python', 'check that pythonia is installed (npm ci)');
    const [bridge, info] = await waitForStart(pythonia, child, python);
    const engine = new Engine(pythonia, bridge, child, info, options.abortGraceMs ?? 15_000);
    openEngine = engine;
    return engine;
  }

  /** The Python process id, while it runs. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** true until the engine is closed or its process dies. */
  get isOpen(): boolean {
    return !this.closed && !this.crashed;
  }

  /**
   * Trains a tokenizer on a JSONL file of texts (or checks a user's tokenizer.json) and writes it to `outPath`:
   * `fit_tokenizer` (python/distillery/tokenizer.py).
   */
  fitTokenizer(
    request: Commands['fit_tokenizer']['request'],
    options: CallOptions = {},
  ): Promise<Commands['fit_tokenizer']['result']> {
    return this.call('fit_tokenizer', request, options);
  }

  /** Runs one engine command. Progress events stream to `onEvent`; `signal` cancels between batches. */
  async call<C extends CommandName>(
    command: C,
    request: Commands[C]['request'],
    options: CallOptions = {},
  ): Promise<Commands[C]['result']> {
    if (this.crashed) throw this.crashed;
    if (this.closed) throw new EngineClosedError();
    if (options.signal?.aborted) throw new EngineAbortError();
    const contract = COMMANDS[command];
    // Defaults are filled here, once; Python requires every key zod fills (python/distillery/spec.py).
    const payload = JSON.stringify(parseWith(contract.request, request));
    this.busy();
    // An object, not a `let`: the abort listener sets it, and the checks after `await` must not assume it false.
    const cancel = { requested: false };
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      cancel.requested = true;
      this.child.kill('SIGUSR1'); // sets the flag the training loop checks between batches
      graceTimer = setTimeout(() => this.kill(), this.abortGraceMs);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Python calls this synchronously; its return value tells Python to stop (a second path to cancel).
    const onEvent = (json: string): boolean => {
      if (options.onEvent)
        options.onEvent(checked(EngineEventSchema, JSON.parse(json), `a '${command}' progress event`));
      return cancel.requested;
    };
    let reject: (error: Error) => void = () => undefined;
    const crash = new Promise<never>((_, rejectCrash) => {
      reject = rejectCrash;
      this.rejectors.add(rejectCrash);
    });
    try {
      // pythonia's default per-call timeout (100 s) would kill long trainings; a crash is caught by the exit watch.
      const raw = await Promise.race([this.bridge.invoke$(command, payload, onEvent, { $timeout: Infinity }), crash]);
      const envelope = JSON.parse(raw) as Envelope<unknown>;
      if (!envelope.ok) throw errorFromPython(envelope.error);
      return checked(contract.result, envelope.result, `the '${command}' result`) as Commands[C]['result'];
    } catch (error) {
      if (cancel.requested && error instanceof EngineCrashedError)
        throw new EngineAbortError('the call was aborted (Python was stopped)');
      throw error;
    } finally {
      this.rejectors.delete(reject);
      options.signal?.removeEventListener('abort', onAbort);
      if (graceTimer) clearTimeout(graceTimer);
      this.idle();
    }
  }

  /** Stops Python. Idempotent; pending calls reject with EngineClosedError. Resolves once the process is gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const reject of this.rejectors) reject(new EngineClosedError());
    this.rejectors.clear();
    const exited = this.child.exitCode !== null || this.child.signalCode !== null;
    const gone = exited ? Promise.resolve() : new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.shutdown();
    const forceKill = setTimeout(() => this.kill(), 2000);
    await gone;
    clearTimeout(forceKill);
  }

  private shutdown(): void {
    this.closed = true;
    if (openEngine === this) openEngine = null;
    if (liveChild === this.child) liveChild = null;
    process.removeListener('exit', killOnExit);
    try {
      this.pythonia.python.exit(); // SIGTERM, and stops pythonia's timer
    } catch {
      // already gone
    }
  }

  private kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  /** While a call is in flight, the child and its channel keep Node alive (a pending promise alone does not). */
  private busy(): void {
    if (this.inFlight++ === 0) {
      this.child.ref();
      this.child.channel?.ref();
    }
  }

  /** Idle, they do not: a script that forgets close() still exits, and Python follows its parent out. */
  private idle(): void {
    if (this.inFlight > 0) this.inFlight--;
    if (this.inFlight === 0) {
      this.child.unref();
      this.child.channel?.unref();
    }
  }
}

/** Runs `work` with the caller's engine, or with a fresh one that is closed afterwards — whatever happens. */
export async function withEngine<T>(engine: Engine | undefined, work: (engine: Engine) => Promise<T>): Promise<T> {
  if (engine) return work(engine);
  const fresh = await Engine.start();
  try {
    return await work(fresh);
  } finally {
    await fresh.close();
  }
}

function killOnExit(): void {
  if (liveChild?.exitCode === null && liveChild.signalCode === null) liveChild.kill('SIGKILL');
}

/**
 * pythonia reads PYTHON_BIN and spawns Python when it is first required (and
 * again on the first `python()` after an exit), so the environment is set
 * first and the module is required lazily — never at import time of this file.
 */
function loadPythonia(python: string): Pythonia {
  const extra = pythonProcessEnv();
  const saved: Record<string, string | undefined> = {
    PYTHON_BIN: process.env.PYTHON_BIN,
    PYTHONPATH: process.env.PYTHONPATH,
    PYTHONUNBUFFERED: process.env.PYTHONUNBUFFERED,
  };
  for (const key of Object.keys(extra)) saved[key] = process.env[key];
  process.env.PYTHON_BIN = python;
  process.env.PYTHONPATH = [PYTHON_PACKAGE_DIR, saved.PYTHONPATH].filter(Boolean).join(path.delimiter);
  process.env.PYTHONUNBUFFERED = '1';
  Object.assign(process.env, extra); // byte-code and caches outside the package; see pythonProcessEnv
  try {
    // Required here, not imported: pythonia spawns Python the moment it is loaded, and reads PYTHON_BIN then.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pythonia = require('pythonia') as Pythonia;
    const stale = pythonia.com.proc;
    if (stale && (stale.exitCode !== null || stale.signalCode !== null)) pythonia.python.exit();
    if (!pythonia.com.proc) pythonia.com.start();
    const shared = (globalThis as { __pythonBridge?: PythoniaSharedBridge }).__pythonBridge;
    // com.start() (a restart after close or a crash) forgets every handler, the one for Python → JS calls
    // ('jsi') included: progress callbacks would then never return and the next call would hang forever.
    shared?.com?.register('jsi', shared.jsi.onMessage.bind(shared.jsi));
    // pythonia's garbage-collection timer would keep Node alive forever.
    shared?.loop?.unref();
    return pythonia;
  } catch (error) {
    throw new EngineStartError(
      `could not start ${python}: ${(error as Error).message}`,
      'check DISTILLERY_PYTHON, or run `npx distillery setup`',
    );
  } finally {
    restoreEnv(saved);
  }
}

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) Reflect.deleteProperty(process.env, key);
    else process.env[key] = value;
  }
}

async function waitForStart(
  pythonia: Pythonia,
  child: ChildProcess,
  python: string,
): Promise<[PythoniaBridgeModule, HelloResult]> {
  let onExit: (code: number | null) => void = () => undefined;
  const died = new Promise<never>((_, reject) => {
    onExit = (code) =>
      reject(
        new EngineStartError(
          `${python} exited (code ${String(code)}) while the engine started`,
          'run `npx distillery doctor` to see what is missing',
        ),
      );
    child.once('exit', onExit);
  });
  liveChild = child;
  process.on('exit', killOnExit);
  try {
    // Imported by absolute path: pythonia then puts python/ on sys.path itself.
    const bridge = await Promise.race([pythonia.python(path.join(PYTHON_PACKAGE_DIR, 'distillery_bridge.py')), died]);
    const raw = await Promise.race([bridge.invoke$('hello', '{}', () => false, { $timeout: Infinity }), died]);
    const envelope = JSON.parse(raw) as Envelope<unknown>;
    if (!envelope.ok) {
      const error = envelope.error;
      const fix =
        error.type === 'ModuleNotFoundError'
          ? `install the engine's packages into ${python}: \`${python} -m pip install -r requirements.txt\` (or unset DISTILLERY_PYTHON to use the environment Distillery makes: \`npx distillery setup\`)`
          : 'run `npx distillery doctor`';
      throw new EngineStartError(`the Python engine failed to start: ${error.type}: ${error.message}`, fix);
    }
    return [bridge, checked(HelloResultSchema, envelope.result, "the 'hello' result")];
  } catch (error) {
    process.removeListener('exit', killOnExit);
    liveChild = null;
    try {
      pythonia.python.exit();
    } catch {
      // already gone
    }
    if (error instanceof EngineError) throw error;
    const stack = (error as Error).stack ?? String(error);
    throw new EngineStartError(
      `the Python engine failed to start: ${lastLine(stack)}`,
      'run `npx distillery doctor` to see what is missing',
    );
  } finally {
    child.removeListener('exit', onExit);
  }
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.find((line) => /Error:|Exception:/.test(line)) ?? lines[0] ?? text;
}
