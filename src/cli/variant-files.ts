/**
 * `distillery quantize` writes every variant it was asked for, or none: each is made in a staging folder next to
 * its destination and moved into place only once all of them succeeded. A variant that fails (calibration data of
 * the wrong shape, an op the fp16 converter refuses, …) so leaves neither its siblings nor temporaries behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `runs/demo/soft.onnx` → `runs/demo/soft.int8-static.onnx`, as python/distillery/quantize.py's `variant_path`. */
export function variantDestination(model: string, method: string): string {
  const parsed = path.parse(path.resolve(model));
  return path.join(parsed.dir, `${parsed.name}.${method}${parsed.ext || '.onnx'}`);
}

/** One file to make: where it finally goes, and how to make it at a given (staging) path. */
export interface FileJob<T> {
  destination: string;
  make: (stagingPath: string) => Promise<T>;
}

/**
 * Runs each job in turn, each writing its file at a staging path, then moves every file to its destination. On any
 * failure the staging folder goes, with whatever was made, and the error is rethrown: no destination is touched.
 * The results come back with `path` set to the destination.
 */
export async function makeAllOrNone<T extends { path: string }>(jobs: readonly FileJob<T>[]): Promise<T[]> {
  const byFolder = new Map<string, string>(); // one staging folder per destination folder: a rename never crosses disks
  const stagingFolder = (destination: string): string => {
    const folder = path.dirname(destination);
    let staging = byFolder.get(folder);
    if (staging === undefined) {
      fs.mkdirSync(folder, { recursive: true });
      staging = fs.mkdtempSync(path.join(folder, '.distillery-staging-'));
      byFolder.set(folder, staging);
    }
    return staging;
  };
  try {
    const staged: { file: string; destination: string; result: T }[] = [];
    for (const { destination, make } of jobs) {
      // The staged file keeps its final name, so any message about it names the right file.
      const file = path.join(stagingFolder(destination), path.basename(destination));
      staged.push({ file, destination, result: await make(file) });
    }
    for (const { file, destination } of staged) fs.renameSync(file, destination);
    return staged.map(({ destination, result }) => ({ ...result, path: destination }));
  } finally {
    for (const staging of byFolder.values()) fs.rmSync(staging, { recursive: true, force: true });
  }
}
