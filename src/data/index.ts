/**
 * Data as the user has it → data as the engine takes it.
 *
 * Tables (CSV, TSV, JSON lines) and image folders are read and encoded here, in TypeScript, by the same
 * code the runtime uses to encode a row or an image for `predict` (src/preprocess): the encoding is fitted
 * on data.train, applied to every split, written as .npz arrays, and recorded in the request's
 * `preprocess` so the engine stores it in every model. The embedded MNIST and .npz/.npy files pass
 * through untouched.
 */
import { ConfigError } from '../config/errors';
import { required } from '../core/required';
import type { DataConfig, ImagesSourceConfig, TableSourceConfig, TrainingSourceConfig } from '../config/schema';
import { prepareImages } from './images';
import { prepareTables } from './table';
import { withOnDemandEngine } from '../engine/on-demand';
import type { EngineProvider } from './text';
import type { EngineDataConfig, PreparedData, Role } from './types';

export type { DataSummary, EngineDataConfig, PreparedData, Role } from './types';
export type { EngineProvider, TextSummary } from './text';

const ROLES: readonly Role[] = ['train', 'test', 'transfer', 'validation'];

/** The sources of a data config that are not a `split` of data.train, by role. */
export function sourcesOf(data: DataConfig): [Role, TrainingSourceConfig][] {
  return ROLES.flatMap((role): [Role, TrainingSourceConfig][] => {
    const source = data[role];
    return source && source.type !== 'split' && source.type !== 'fold' && source.type !== 'augment'
      ? [[role, source]]
      : [];
  });
}

/** Options of {@link prepareData}. */
export interface PrepareOptions {
  /**
   * The engine, when a table's text column needs a tokenizer fitted (the `fit_tokenizer` command): called only then.
   * Without it an engine is started for that and closed; with one open elsewhere in the process, pass it (pythonia
   * allows one per process).
   */
  engine?: EngineProvider;
}

/**
 * Encodes tables and images into `<dir>/data/*.npz` (images: into the decoded-image cache) and returns the
 * engine's data config. `dir` is the run's output folder.
 */
export async function prepareData(data: DataConfig, dir: string, options: PrepareOptions = {}): Promise<PreparedData> {
  if (data.transfer?.type === 'augment' && data.train.type !== 'csv') {
    throw new ConfigError([
      {
        path: 'data.transfer.type',
        message: `'augment' alters the sentences of a table's text column, and data.train is '${data.train.type}' data`,
      },
    ]);
  }
  const sources = sourcesOf(data);
  const tables = sources.filter((entry): entry is [Role, TableSourceConfig] => entry[1].type === 'csv');
  const images = sources.filter((entry): entry is [Role, ImagesSourceConfig] => entry[1].type === 'images');
  if (tables.length === 0 && images.length === 0) {
    return {
      data: { ...(data as EngineDataConfig), preprocess: null },
      summary: { kind: 'arrays', rows: {}, skipped: {} },
    };
  }
  const kind = tables.length > 0 ? 'csv' : 'images';
  const mismatched = sources.find(([, source]) => source.type !== kind);
  if (mismatched) {
    const first = required((kind === 'csv' ? tables : images)[0], `a ${kind} source`)[0];
    throw new ConfigError([
      {
        path: `data.${mismatched[0]}.type`,
        message: `expected '${kind}' like data.${first}: every split of a model's data must be encoded the same way (got '${mismatched[1].type}')`,
      },
    ]);
  }
  if (data.train.type !== kind) {
    throw new ConfigError([
      { path: 'data.train.type', message: `expected '${kind}': the encoding is fitted on data.train` },
    ]);
  }
  if (kind === 'images') return prepareImages(data, images, dir);
  const given = options.engine;
  if (given) return prepareTables(data, tables, dir, given);
  return withOnDemandEngine(undefined, (engine) => prepareTables(data, tables, dir, () => engine.get()));
}
