/**
 * A run folder is owned by one experiment, and used by one process at a time.
 *
 * - **Lock**: `<out>/.lock` (src/io/lock.ts) is taken for the whole run; a second `run`, `--resume` or
 *   `quantize` on a folder in use fails at once naming the holder's pid. A lock left by a dead process is
 *   taken over.
 * - **Manifest**: `<out>/manifest.json` records the experiment's config hash from the start, and at the end
 *   every artefact the run wrote (path, sha256, size, role). A different experiment is refused unless
 *   `overwrite`, which removes only the old manifest's artefacts; `resume` with a changed config is refused,
 *   naming the fields that differ.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './files';
import { LockHeldError, belongsToLock, tryAcquireLock, type Lock } from './lock';

export const MANIFEST = 'manifest.json';
export const LOCK = '.lock';
/** The config as the engine ran it; compared on `--resume`. */
export const RESOLVED_CONFIG = 'resolved-config.json';

/**
 * What a file of a run folder is, as its manifest records it: an exported teacher or student (`.onnx`), a checkpoint
 * or training state (`.pt`), an engine result (`results/`), encoded data (`data/`), the resolved config, a chart
 * (`.svg`), or a report.
 */
export type ArtefactRole =
  | 'teacher-model'
  | 'student-model'
  | 'checkpoint'
  | 'training-state'
  | 'result'
  | 'data'
  | 'config'
  | 'report'
  | 'chart';

/** One artefact of a run folder, as `manifest.json` lists it. */
export interface ManifestEntry {
  /** Relative to the run folder, with `/`. */
  path: string;
  /** The file's sha256, hex; `distillery verify` checks it. */
  sha256: string;
  /** The file's size in bytes. */
  size: number;
  /** What the file is. */
  role: ArtefactRole;
}

/** A run folder's `manifest.json`: which experiment owns the folder, and every artefact the run wrote. */
export interface Manifest {
  /** The manifest's format and version. */
  format: 'distillery-run/1';
  /** The experiment's name. */
  experiment: string;
  /** sha256 of `config`. */
  configHash: string;
  /** The experiment as parsed (every default filled, paths absolute; no `outDir`), compared on `--resume`. */
  config: Record<string, unknown>;
  /** false while the run is under way (or was interrupted). */
  complete: boolean;
  /** Every file the run wrote, once it is complete. */
  artefacts: ManifestEntry[];
}

/**
 * Why a run folder was refused: in use by another process, owned by another experiment, resumed with a changed
 * config, a non-empty folder that is no run folder, or artefacts that fail verification.
 */
export type RunFolderProblem = 'locked' | 'other-experiment' | 'changed-config' | 'not-a-run-folder' | 'verify';

/** The run folder cannot be used as asked (in use, another experiment's, changed on resume) or failed verification. */
export class RunFolderError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'RunFolderError';
  constructor(
    /** The run folder concerned. */
    readonly folder: string,
    /** What is wrong, to react on without parsing the message. */
    readonly problem: RunFolderProblem,
    message: string,
    /** locked: the holder's pid; changed-config: the fields that differ; verify: each mismatch. */
    readonly details: {
      /** locked: the pid of the process that holds the folder. */
      pid?: number;
      /** changed-config: the config fields that differ from the run's. */
      fields?: string[];
      /** verify: each artefact that does not match the manifest. */
      mismatches?: string[];
    } = {},
  ) {
    super(message);
  }
}

const IGNORED_ON_HASH = new Set(['outDir', 'resume']);

/** The identity of an experiment: its resolved config, canonical JSON, less where it runs and whether it resumes. */
export function configHash(config: Record<string, unknown>): string {
  const identity = Object.fromEntries(Object.entries(config).filter(([key]) => !IGNORED_ON_HASH.has(key)));
  return crypto.createHash('sha256').update(canonical(identity)).digest('hex');
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The dotted paths at which two configs differ (`students[1].method.temperature`). */
export function differingFields(before: unknown, after: unknown, prefix = ''): string[] {
  if (
    before &&
    after &&
    typeof before === 'object' &&
    typeof after === 'object' &&
    Array.isArray(before) === Array.isArray(after)
  ) {
    if (Array.isArray(before) && Array.isArray(after) && before.length !== after.length) return [prefix || '(root)'];
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].sort().flatMap((key) => {
      if (!prefix && IGNORED_ON_HASH.has(key)) return [];
      const where = Array.isArray(before) ? `${prefix}[${key}]` : prefix ? `${prefix}.${key}` : key;
      return differingFields((before as Record<string, unknown>)[key], (after as Record<string, unknown>)[key], where);
    });
  }
  return canonical(before) === canonical(after) ? [] : [prefix || '(root)'];
}

export function readManifest(folder: string): Manifest | null {
  const file = path.join(folder, MANIFEST);
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
}

function writeManifest(folder: string, manifest: Manifest): void {
  writeFileAtomic(path.join(folder, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Takes the folder's lock, without waiting: a folder in use fails at once, naming the holder. */
export function lockRunFolder(folder: string, purpose: string): Lock {
  fs.mkdirSync(folder, { recursive: true });
  const lockPath = path.join(folder, LOCK);
  const result = tryAcquireLock(lockPath, purpose);
  if ('release' in result) return result;
  const owner = result;
  throw new RunFolderError(
    folder,
    'locked',
    `${folder} is in use: ${new LockHeldError(lockPath, owner).message}; wait for it, or use another --out`,
    {
      pid: owner.pid,
    },
  );
}

export interface ClaimOptions {
  resume: boolean;
  overwrite: boolean;
}

/**
 * Makes sure the (locked) folder may take this experiment, then records its config hash in an incomplete
 * manifest: the folder is claimed before anything is trained, so an interrupted run is recognised.
 */
export interface Claim {
  manifest: Manifest;
  /** Files that were there before the run and are not its own (`--overwrite` on a folder that was no run's). */
  foreign: ReadonlySet<string>;
}

export function claimRunFolder(
  folder: string,
  experiment: string,
  config: Record<string, unknown>,
  options: ClaimOptions,
): Claim {
  const hash = configHash(config);
  const previous = readManifest(folder);
  if (options.resume) {
    refuseChangedConfig(folder, previous, config);
  } else if (previous && previous.configHash !== hash) {
    if (!options.overwrite) {
      throw new RunFolderError(
        folder,
        'other-experiment',
        `${folder} holds another experiment's run ('${previous.experiment}', config ${previous.configHash.slice(0, 12)}…): ` +
          'use another --out, --overwrite to replace its artefacts, or --resume with its config',
      );
    }
    removeArtefacts(folder, previous);
  } else if (!previous) {
    const foreign = foreignEntries(folder);
    if (foreign.length > 0 && !options.overwrite) {
      throw new RunFolderError(
        folder,
        'not-a-run-folder',
        `${folder} is not empty and is no Distillery run folder (it holds ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}): ` +
          'use an empty or new --out, or --overwrite to run there anyway',
      );
    }
  }
  // What is there now and no run of this experiment wrote. An unfinished run of it (resumed, or started again) left
  // only its own files; a finished one lists them.
  const unfinishedSame = options.resume || (previous?.configHash === hash && !previous.complete);
  const earlier = new Set(previous?.configHash === hash ? previous.artefacts.map((entry) => entry.path) : []);
  const foreign = new Set(unfinishedSame ? [] : runFiles(folder).filter((file) => !earlier.has(file)));
  const manifest: Manifest = {
    format: 'distillery-run/1',
    experiment,
    configHash: hash,
    config,
    complete: false,
    artefacts: [],
  };
  writeManifest(folder, manifest);
  return { manifest, foreign };
}

function refuseChangedConfig(folder: string, previous: Manifest | null, config: Record<string, unknown>): void {
  if (!previous) {
    throw new RunFolderError(
      folder,
      'changed-config',
      `${folder} holds no run to resume (no ${MANIFEST}): run without --resume`,
    );
  }
  const fields = differingFields(previous.config, config);
  if (fields.length > 0) {
    throw new RunFolderError(
      folder,
      'changed-config',
      `--resume with a changed config: ${fields.slice(0, 10).join(', ')}${fields.length > 10 ? ', …' : ''} differ from the run in ${folder}; ` +
        'undo the changes, or start a new run in another --out',
      { fields },
    );
  }
}

/**
 * Files and folders of a non-empty folder that no run wrote (its lock and its own leftovers aside). The lock's
 * companions count as the lock: counted as foreign, they let two runs started at once both fail — the winner saw the
 * loser's staging folder and refused the folder as no run's.
 */
function foreignEntries(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder).filter((name) => !belongsToLock(LOCK, name) && !name.startsWith('.tmp-'));
}

/** `--overwrite`: only what the old manifest lists goes, then the manifest itself. */
function removeArtefacts(folder: string, manifest: Manifest): void {
  for (const entry of manifest.artefacts) fs.rmSync(path.join(folder, ...entry.path.split('/')), { force: true });
  for (const sub of ['checkpoints', 'results', 'data']) {
    const dir = path.join(folder, sub);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  }
  fs.rmSync(path.join(folder, RESOLVED_CONFIG), { force: true });
  fs.rmSync(path.join(folder, MANIFEST), { force: true });
}

/** What a file of a run folder is, from its path (the teacher's .onnx is named after it). */
export function roleOf(file: string, teacherName: string): ArtefactRole {
  // k-fold selection's fold runs (src/experiment/folds.ts) are run folders of their own inside this one.
  const relative = file.replace(/^selection\/fold-\d+\//, '');
  const base = path.posix.basename(relative);
  if (relative.endsWith('.onnx')) return base === `${teacherName}.onnx` ? 'teacher-model' : 'student-model';
  if (relative.endsWith('.state.pt')) return 'training-state';
  if (relative.endsWith('.pt')) return 'checkpoint';
  if (relative.startsWith('results/')) return 'result';
  if (relative.startsWith('data/')) return 'data';
  if (base === RESOLVED_CONFIG) return 'config';
  if (relative.endsWith('.svg')) return 'chart';
  return 'report';
}

function sha256Of(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every file of the run folder but the lock and the manifest, relative and sorted. */
export function runFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (!prefix && (belongsToLock(LOCK, entry.name) || entry.name === MANIFEST)) continue;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), relative);
      else if (!entry.name.startsWith('.tmp-')) found.push(relative);
    }
  };
  walk(folder, '');
  return found.sort();
}

/** The artefacts as they will be recorded: each file the run wrote, with its role, size and sha256. */
export function describeArtefacts(folder: string, files: readonly string[], teacherName: string): ManifestEntry[] {
  return files.map((relative) => {
    const file = path.join(folder, ...relative.split('/'));
    return {
      path: relative,
      sha256: sha256Of(file),
      size: fs.statSync(file).size,
      role: roleOf(relative, teacherName),
    };
  });
}

/** The finished manifest: every artefact the run wrote (the folder's files less what was there before it, if foreign). */
export function completeManifest(folder: string, claim: Claim, artefacts: ManifestEntry[]): Manifest {
  const manifest: Manifest = {
    ...claim.manifest,
    complete: true,
    artefacts: artefacts.filter((entry) => !claim.foreign.has(entry.path)),
  };
  writeManifest(folder, manifest);
  return manifest;
}
