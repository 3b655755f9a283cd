/**
 * The rows of one split as the user has them, in the engine's row order: what a teacher you call receives
 * (src/teacher). A table's rows are its records (the label columns left out: a teacher must not see the answer), an
 * image folder's are the files' bytes, arrays (MNIST, .npz/.npy) are each sample's values as the engine reads them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import { required } from '../core/required';
import type { DataConfig, TableSourceConfig, TrainingSourceConfig } from '../config/schema';
import type { TeacherInput } from '../config/teacher-function';
import { loadDataset } from '../eval/dataset';
import { readTableFile } from './table';
import type { EngineProvider } from './text';
import type { PreparedData, Role } from './types';

/** A split's rows, and where they come from (said in errors and the report). */
export interface RawRows {
  readonly role: Role;
  readonly rows: readonly TeacherInput[];
}

/**
 * The rows of `role` as a teacher receives them. `prepared` is what prepareData returned for `data`; `engine` reads
 * arrays (MNIST, .npz) the way the engine does; `scratch` is a folder for the arrays it writes.
 */
export async function rawRows(
  data: DataConfig,
  prepared: PreparedData,
  role: Role,
  engine: EngineProvider,
  scratch: string,
): Promise<RawRows> {
  const source = data[role];
  if (source === undefined || source.type === 'split' || source.type === 'fold')
    throw new Error(`data.${role} has no rows of its own`);
  if (source.type === 'augment') return { role, rows: await augmentedRows(data, prepared) };
  if (source.type === 'csv') return { role, rows: await tableRows(source, labelColumns(data), prepared) };
  if (source.type === 'images') return { role, rows: imageRows(prepared, role) };
  return { role, rows: await arrayRows(prepared, role, engine, scratch) };
}

/** The label column(s) every table split leaves out: the source's own, else data.train's. */
function labelColumns(data: DataConfig): (source: TableSourceConfig) => string[] {
  const train = data.train.type === 'csv' ? data.train.label : undefined;
  return (source) => {
    const label = source.label ?? train;
    return label === undefined ? [] : Array.isArray(label) ? label : [label];
  };
}

/**
 * A table file's records, every column but the labels, with the cells of the columns the data reads as numbers or
 * booleans as numbers and booleans (what `predict` takes); the other cells as written.
 */
async function tableRows(
  source: TableSourceConfig,
  labels: (source: TableSourceConfig) => string[],
  prepared: PreparedData,
): Promise<TeacherInput[]> {
  const rows = await readTableFile(source.path, undefined, source);
  const hidden = new Set(labels(source));
  const spec = prepared.data.preprocess;
  const kinds = new Map(spec?.kind === 'table' ? spec.columns.map((column) => [column.name, column.type]) : []);
  return rows.map((row) =>
    Object.fromEntries(
      Object.entries(row)
        .filter(([name]) => !hidden.has(name))
        .map(([name, value]) => [name, typed(value, kinds.get(name))]),
    ),
  );
}

/** A cell as its column's kind reads it: a number (null when missing), a boolean, or as written. */
type Cell = string | number | boolean | null | undefined;

function typed(value: Cell, kind: string | undefined): Cell {
  if (typeof value !== 'string') return value;
  if (kind === 'numeric') {
    const number = value.trim() === '' ? NaN : Number(value);
    return Number.isFinite(number) ? number : null;
  }
  if (kind === 'boolean' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
  return value;
}

/**
 * An augmented transfer set (src/data/augment.ts): each copy is its sentence's row (data.train's, the label left
 * out) with the altered text in the text column — what the engine's rows are made from.
 */
async function augmentedRows(data: DataConfig, prepared: PreparedData): Promise<TeacherInput[]> {
  const train = data.train as TableSourceConfig;
  const originals = (await tableRows(train, labelColumns(data), prepared)) as Record<string, unknown>[];
  const texts = readTexts(required(prepared.data.texts?.transfer, 'the transfer texts of an augmented set'));
  const origin = readInt64Npy(required(prepared.data.transferOrigin, 'the origin of an augmented set'));
  const preprocess = prepared.data.preprocess;
  const column =
    preprocess?.kind === 'table' ? preprocess.columns.find((entry) => entry.type === 'text')?.name : undefined;
  if (column === undefined) throw new Error('an augmented transfer set without a text column');
  return texts.map((text, index) => {
    const row = Number(origin[index]);
    return { ...required(originals[row], `data.train's row ${row}`), [column]: text } as TeacherInput;
  });
}

/** data/<role>-texts.jsonl as src/data/table.ts writes it: one JSON string per line. */
function readTexts(file: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => String(JSON.parse(line) ?? ''));
}

/** The int64 .npy that src/data/table.ts writes (version 1 or 2 header), as its values. */
function readInt64Npy(file: string): BigInt64Array {
  const bytes = fs.readFileSync(file);
  const major = bytes[6] ?? 1;
  const start = major === 1 ? 10 + bytes.readUInt16LE(8) : 12 + bytes.readUInt32LE(8);
  return new BigInt64Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
}

function imageRows(prepared: PreparedData, role: Role): TeacherInput[] {
  const files = prepared.files?.[role];
  if (files === undefined) {
    throw new ConfigError([
      {
        path: `data.${role}.onError`,
        message:
          "a teacher you call receives each image's bytes, and some images of this split were skipped as unreadable; fix or remove them (or onError: 'fail' to list them)",
      },
    ]);
  }
  return files.map((file) => new Uint8Array(fs.readFileSync(file)));
}

/** Arrays as the engine reads them (offset and limit applied), through its `write_split` command. */
async function arrayRows(
  prepared: PreparedData,
  role: Role,
  engine: EngineProvider,
  scratch: string,
): Promise<TeacherInput[]> {
  const file = path.join(scratch, `${role}-rows.npz`);
  fs.mkdirSync(scratch, { recursive: true });
  await (await engine()).call('write_split', { data: prepared.data, split: role, path: file });
  try {
    const dataset = await loadDataset(file);
    const width = dataset.sampleShape.reduce((product, size) => product * size, 1);
    return Array.from({ length: dataset.size }, (_, index) =>
      Float32Array.from(dataset.x.subarray(index * width, (index + 1) * width)),
    );
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Whether a source has rows of its own (a file, a folder, MNIST, an augmented set), not a share of data.train's. */
export function hasOwnRows(source: TrainingSourceConfig | DataConfig['validation'] | undefined): boolean {
  return source !== undefined && source.type !== 'split' && source.type !== 'fold';
}
