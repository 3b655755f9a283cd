/**
 * Writing files so that no reader ever sees half of one, and output folders proved writable before any work.
 * Node-only (node:fs): the runtime and preprocess never import src/io (.dependency-cruiser.cjs).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';

/**
 * Writes a file through a temporary name and a rename: readers never see half a file. `contents` may be a list
 * of chunks, written in order (a large archive need not be joined into one buffer first).
 */
export function writeFileAtomic(file: string, contents: string | Uint8Array | readonly Uint8Array[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = path.join(path.dirname(file), `.tmp-${process.pid}-${path.basename(file)}`);
  try {
    if (Array.isArray(contents)) writeChunks(temporary, contents as readonly Uint8Array[]);
    else fs.writeFileSync(temporary, contents as string | Uint8Array);
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

function writeChunks(file: string, chunks: readonly Uint8Array[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const chunk of chunks) {
      for (let written = 0; written < chunk.length;)
        written += fs.writeSync(fd, chunk, written, chunk.length - written);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Puts `source` at `file` as a hard link (a copy across disks), through a temporary name and a rename. */
export function linkFileAtomic(source: string, file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = path.join(path.dirname(file), `.tmp-${process.pid}-${path.basename(file)}`);
  fs.rmSync(temporary, { force: true });
  try {
    try {
      fs.linkSync(source, temporary);
    } catch {
      fs.copyFileSync(source, temporary);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Creates the output folder and proves it writable by writing a file in it (root ignores permission
 * bits, so checking the mode would not do). A folder that cannot be used fails here, before any
 * training, as a ConfigError naming `outDir`.
 */
export function ensureOutputDir(dir: string, options: { create?: boolean } = {}): void {
  // create: false probes the deepest folder that exists instead, and leaves nothing behind.
  let target = dir;
  if (options.create === false)
    while (!fs.existsSync(target) && path.dirname(target) !== target) target = path.dirname(target);
  const probe = path.join(target, `.tmp-${process.pid}-probe`);
  try {
    if (options.create !== false) fs.mkdirSync(dir, { recursive: true });
    else if (!fs.statSync(target).isDirectory())
      throw Object.assign(new Error('not a folder'), { code: target === dir ? 'EEXIST' : 'ENOTDIR' });
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason =
      {
        ENOTDIR: 'a part of the path is a file, not a folder',
        EEXIST: 'it exists and is not a folder',
        EACCES: 'permission denied',
        EPERM: 'permission denied',
        EROFS: 'read-only file system',
        ENOSPC: 'no space left on the device',
      }[code] ?? (error as Error).message;
    throw new ConfigError([
      { path: 'outDir', message: `cannot write to the output folder ${dir}: ${reason}${code ? ` (${code})` : ''}` },
    ]);
  }
}
