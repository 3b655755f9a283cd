/**
 * Typed arrays handed over from TypeScript travel to Python as an .npz file —
 * never element by element through the bridge (1e6 floats cost ~0.7 s there).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { z } from 'zod';
import { ConfigError } from '../config/errors';
import type { DataSourceConfig } from '../config/schema';
import { writeFileAtomic } from '../io/files';
import { npyBytes } from '../io/npy';

const TypedArray = z.union([
  z.instanceof(Float32Array),
  z.instanceof(Float64Array),
  z.instanceof(Int32Array),
  z.instanceof(Uint8Array),
]);

/** In-memory data: `x` holds N samples of `sampleShape`, row-major; `y` N labels or targets. */
export const ArraySource = z.strictObject({
  type: z.literal('arrays'),
  x: TypedArray,
  sampleShape: z.array(z.number().int().positive()).min(1),
  y: TypedArray.optional(),
  labelled: z.boolean().default(true),
});
/**
 * A data split given as typed arrays in memory (`{ type: 'arrays', x, y, sampleShape }`), as {@link ArraySource}
 * validates it; written to an `.npz` file under `<outDir>/data` before the engine reads it.
 */
export type ArraySourceInput = z.input<typeof ArraySource>;

/** Writes an ArraySource to `<dir>/<name>.npz` and returns the equivalent file source. */
export function materializeArrays(value: unknown, dir: string, name: string, where: string): DataSourceConfig {
  const parsed = ArraySource.safeParse(value);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({ path: [where, ...issue.path].join('.'), message: issue.message })),
    );
  }
  const source = parsed.data;
  const features = source.sampleShape.reduce((a, b) => a * b, 1);
  const rows = source.x.length / features;
  if (!Number.isInteger(rows) || rows === 0) {
    throw new ConfigError([
      {
        path: `${where}.x`,
        message: `expected a non-empty multiple of ${features} values (sampleShape ${JSON.stringify(source.sampleShape)}), got ${source.x.length}`,
      },
    ]);
  }
  const files: Record<string, Uint8Array> = { 'x.npy': npyBytes(source.x, [rows, ...source.sampleShape]) };
  if (source.y) {
    if (source.y.length % rows !== 0) {
      throw new ConfigError([
        {
          path: `${where}.y`,
          message: `expected ${rows} labels (or a multiple for several targets), got ${source.y.length}`,
        },
      ]);
    }
    const width = source.y.length / rows;
    files['y.npy'] = npyBytes(source.y, width === 1 ? [rows] : [rows, width]);
  }
  const file = path.join(dir, `${name}.npz`);
  writeFileAtomic(file, zipSync(files, { level: 0 }));
  return { type: 'file', path: file, x: 'x', y: 'y', offset: 0, labelled: source.labelled };
}

/** A fresh folder for array files when the caller gives none. */
export function scratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-arrays-'));
}
