/**
 * A lock between processes, on one path: the lock is the folder `<path>`, holding `owner.json` (the
 * holder's pid, host, start time and purpose).
 *
 * - Taking it is atomic: the folder is prepared under a unique name, owner file included, then renamed
 *   to `<path>`; the rename fails if `<path>` already exists, so a lock is never seen without its owner.
 * - A lock whose holder is dead (no such pid on this host, or the pid now belongs to a younger process)
 *   is stale and is taken over. The take-over itself is serialised by `<path>.takeover` (an atomic
 *   `mkdir`, held for a few system calls), so two waiters cannot both remove it, nor remove the fresh
 *   lock of a third.
 * - `acquireLock(path)` waits (polling) while a live process holds it; `{ wait: false }` fails at once
 *   with a LockHeldError naming the holder's pid.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Who holds a lock, as its `owner.json` records it. */
export interface LockOwner {
  /** The holder's process id. */
  pid: number;
  /** The host the holder runs on. */
  hostname: string;
  /** The holder's start time (Linux: clock ticks after boot), to tell a dead holder from a recycled pid. */
  started: string | null;
  /** When the lock was taken (ISO time). */
  since: string;
  /** What the holder is doing, for messages ("setting up the Python environment"). */
  purpose: string;
  /** Identifies one acquisition, so that release() removes only its own lock. */
  token: string;
}

/** The lock is held by another live process (only with `wait: false`, or when a wait times out). */
export class LockHeldError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'LockHeldError';
  constructor(
    /** The lock's path (a folder). */
    readonly lockPath: string,
    /** The process that holds it. */
    readonly owner: LockOwner,
    detail = '',
  ) {
    super(`${lockPath} is locked by ${describeOwner(owner)}${detail}`);
  }
  /** The holder's process id. */
  get pid(): number {
    return this.owner.pid;
  }
}

export interface Lock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  /** What the holder does, shown to whoever waits. */
  purpose?: string;
  /** Wait while another process holds the lock (default), or fail at once with LockHeldError. */
  wait?: boolean;
  /** Polling interval while waiting. Default 500 ms. */
  pollMs?: number;
  /** Give up waiting after this long (LockHeldError). Default: wait as long as the holder lives. */
  timeoutMs?: number;
  /** Called when waiting starts, and again whenever the holder changes. */
  onWait?: (owner: LockOwner) => void;
}

const OWNER_FILE = 'owner.json';
/** A take-over guard older than this was left by a process killed mid-take-over. */
const STALE_GUARD_MS = 10_000;
/** A lock folder without a readable owner file is stale once it is this old (it was not made by this module). */
const UNREADABLE_GRACE_MS = 10_000;
const UNREADABLE = 'unreadable:';

export function describeOwner(owner: LockOwner): string {
  const where = owner.hostname === os.hostname() ? '' : ` on ${owner.hostname}`;
  return `pid ${owner.pid}${where}${owner.purpose ? ` (${owner.purpose}, since ${owner.since})` : ''}`;
}

/** The start time of a live process (Linux), or null where it cannot be read. */
function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the lock's holder may still be running. A holder on another host is assumed alive. */
export function isOwnerAlive(owner: LockOwner): boolean {
  if (owner.token.startsWith(UNREADABLE))
    return Date.now() - Number(owner.token.slice(UNREADABLE.length)) < UNREADABLE_GRACE_MS;
  if (owner.hostname !== os.hostname()) return true;
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  const started = processStart(owner.pid);
  return !(owner.started && started && started !== owner.started); // a recycled pid is a dead holder
}

/** The holder of the lock at `lockPath`, or null when it is free. */
export function readLockOwner(lockPath: string): LockOwner | null {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(lockPath);
  } catch {
    return null;
  }
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(lockPath, OWNER_FILE), 'utf8')) as LockOwner;
    if (typeof owner.pid === 'number') return owner;
  } catch {
    // unreadable: below
  }
  // A folder without a readable owner (not made by this module, or damaged): stale once it is old enough.
  return {
    pid: 0,
    hostname: os.hostname(),
    started: null,
    since: stat.mtime.toISOString(),
    purpose: 'unknown holder',
    token: `${UNREADABLE}${stat.mtimeMs}`,
  };
}

function newOwner(purpose: string): LockOwner {
  return {
    pid: process.pid,
    hostname: os.hostname(),
    started: processStart(process.pid),
    since: new Date().toISOString(),
    purpose,
    token: crypto.randomBytes(8).toString('hex'),
  };
}

/**
 * Whether the entry `name`, beside the lock, is the lock `lockName` itself or one of its passing companions:
 * `<lock>.new-*` (a process staging its attempt), `<lock>.takeover` and `<lock>.trash-*`. They live a few system
 * calls each, but a folder's reader can see them, and they are the lock's, not anyone's files.
 */
export function belongsToLock(lockName: string, name: string): boolean {
  return name === lockName || name.startsWith(`${lockName}.`);
}

/** Renames a folder out of the way, then deletes it: nobody ever sees a half-deleted lock. */
function discard(folder: string): void {
  const trash = `${folder}.trash-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(folder, trash);
  } catch {
    return; // already gone
  }
  fs.rmSync(trash, { recursive: true, force: true });
}

/** Removes the lock if it still belongs to the dead `observed` holder. False if another process is taking it over. */
function takeOver(lockPath: string, observed: LockOwner): boolean {
  const guard = `${lockPath}.takeover`;
  try {
    fs.mkdirSync(guard);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > STALE_GUARD_MS) fs.rmSync(guard, { recursive: true, force: true });
    } catch {
      // removed meanwhile
    }
    return false;
  }
  try {
    const current = readLockOwner(lockPath);
    if (current?.token === observed.token && !isOwnerAlive(current)) discard(lockPath);
    return true;
  } finally {
    fs.rmSync(guard, { recursive: true, force: true });
  }
}

/** One attempt: the lock, or the live holder that has it. Stale locks are taken over on the way. */
export function tryAcquireLock(lockPath: string, purpose = ''): Lock | LockOwner {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const owner = newOwner(purpose);
    const staging = `${lockPath}.new-${process.pid}-${owner.token}`;
    fs.mkdirSync(staging);
    fs.writeFileSync(path.join(staging, OWNER_FILE), JSON.stringify(owner));
    try {
      fs.renameSync(staging, lockPath); // fails if lockPath exists (a lock folder is never empty)
      return makeLock(lockPath, owner);
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM' && code !== 'EACCES') throw error;
    }
    const holder = readLockOwner(lockPath);
    if (holder === null) continue; // released meanwhile: try again
    if (isOwnerAlive(holder) || attempt >= 20) return holder;
    if (!takeOver(lockPath, holder)) return holder; // someone else is removing it: poll again
  }
}

function makeLock(lockPath: string, owner: LockOwner): Lock {
  let released = false;
  const onExit = (): void => release();
  function release(): void {
    if (released) return;
    released = true;
    process.removeListener('exit', onExit);
    if (readLockOwner(lockPath)?.token === owner.token) discard(lockPath);
  }
  process.once('exit', onExit); // a normal exit (even process.exit()) leaves no lock behind
  return { path: lockPath, owner, release };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Takes the lock at `lockPath`: waits while a live process holds it (or fails at once with `wait: false`). */
export async function acquireLock(lockPath: string, options: AcquireOptions = {}): Promise<Lock> {
  const started = Date.now();
  let announced: string | null = null;
  for (;;) {
    const result = tryAcquireLock(lockPath, options.purpose ?? '');
    if ('release' in result) return result;
    if (options.wait === false) throw new LockHeldError(lockPath, result);
    if (options.timeoutMs !== undefined && Date.now() - started >= options.timeoutMs) {
      throw new LockHeldError(
        lockPath,
        result,
        `; gave up waiting after ${Math.round((Date.now() - started) / 1000)} s`,
      );
    }
    if (announced !== result.token) {
      announced = result.token;
      options.onWait?.(result);
    }
    await sleep(options.pollMs ?? 500);
  }
}

/** Runs `work` holding the lock, and releases it however `work` ends. */
export async function withLock<T>(
  lockPath: string,
  options: AcquireOptions,
  work: (lock: Lock) => Promise<T>,
): Promise<T> {
  const lock = await acquireLock(lockPath, options);
  try {
    return await work(lock);
  } finally {
    lock.release();
  }
}
