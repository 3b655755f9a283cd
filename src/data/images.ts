/**
 * Image folders and index files → decoded, resized arrays for the engine (the decoding: src/preprocess/image.ts).
 *
 * A source is a folder with one subfolder per class (the ImageFolder convention: class names are the subfolder
 * names, sorted by code point; images may sit in nested folders inside a class), a folder of images and no
 * subfolders (unlabelled: a transfer set), or an index .csv with a header `file,label` (paths relative to the
 * index's folder; without a label column: unlabelled). Files starting with '.' are ignored; every other file in
 * a class folder is expected to be an image (PNG, JPEG or WebP, recognised by its bytes, not its name).
 *
 * Images are listed in a fixed order — a folder's by class, then by path inside the class; an index's in its row
 * order — and offset/limit take a slice of that list. Each source's decoded arrays (x uint8 [N, C, H, W],
 * y int64 class indices) are cached by content under `<cache>/images/<key>.npz`, the key a sha256 of the decoding
 * spec, the decoder's version, the labels, and every image's relative path and bytes: a second run reads the
 * files to hash them, and decodes nothing.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { ConfigError } from '../config/errors';
import type { DataConfig, ImagesSourceConfig } from '../config/schema';
import { required } from '../core/required';
import { distilleryHome, envValue } from '../io/home';
import { DatasetError, datasetFromArrays, loadDataset, type Dataset } from '../eval/dataset';
import { linkFileAtomic, writeFileAtomic } from '../io/files';
import { npyBytes } from '../io/npy';
import { decodePixels, maxConcurrency } from '../preprocess/image';
import { ImageDecodeError } from '../preprocess/image-core';
import type { ImagePreprocessSpec } from '../preprocess/spec';
import type { PreparedData, Role } from './types';

/** Bump when the decoding or the cache's layout changes: older entries are then never read. */
const CACHE_VERSION = 1;
const IMAGE_NAME = /\.(png|jpe?g|webp)$/i;
/** Image bytes kept in memory between hashing and decoding (beyond it, a cache miss reads the files again). */
const KEEP_BYTES = 256 * 1024 * 1024;

/** `<DISTILLERY_CACHE_DIR or <home>/cache>/images`: the decoded-image cache (the engine's cache folder, as python/distillery/io.py). */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(envValue(env, 'DISTILLERY_CACHE_DIR') ?? path.join(distilleryHome(env), 'cache'), 'images');
}

// ------------------------------------------------------------ listing

interface Entry {
  /** Absolute path. */
  file: string;
  /** Path relative to the source's folder (an index: as written in it), with '/' separators: part of the cache key. */
  rel: string;
  /** The class name (subfolder or label cell); null when the source is unlabelled. */
  label: string | null;
  /** Where the entry came from, for errors: the class folder, or `index.csv` and its line. */
  origin: { file: string; line?: number };
}

interface Listing {
  /** The folder, or the index file. */
  root: string;
  /** Class names found, sorted by code point; null for an unlabelled source. */
  classes: string[] | null;
  entries: Entry[];
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function visible(name: string): boolean {
  return !name.startsWith('.');
}

/** Whether a directory entry is a folder (following symbolic links). */
function isFolder(dir: string, entry: fs.Dirent): boolean {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return fs.statSync(path.join(dir, entry.name)).isDirectory();
  } catch {
    return false; // a broken link: listed as a file, and reported as unreadable
  }
}

/** Every visible file under `dir`, recursively, as paths relative to `dir`, sorted. */
function filesUnder(dir: string, keep: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  const walk = (sub: string): void => {
    const here = path.join(dir, sub);
    for (const entry of fs.readdirSync(here, { withFileTypes: true })) {
      if (!visible(entry.name)) continue;
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (isFolder(here, entry)) walk(rel);
      else if (keep(entry.name)) out.push(rel);
    }
  };
  walk('');
  return out.sort(byCodePoint);
}

/** The images of a source path; `where` is the config field naming it (`data.train`). */
function listImages(source: string, where: string): Listing {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such folder or file' : `cannot read it (${code ?? String(error)})`;
    throw new ConfigError([
      { path: `${where}.path`, message: `${reason}: ${source} (expected a folder of images or an index .csv)` },
    ]);
  }
  if (stat.isDirectory()) return listFolder(source);
  if (/\.csv$/i.test(source)) return listIndex(source);
  throw new ConfigError([
    { path: `${where}.path`, message: `expected a folder of images or an index .csv, got the file ${source}` },
  ]);
}

function listFolder(root: string): Listing {
  const dirents = fs.readdirSync(root, { withFileTypes: true }).filter((entry) => visible(entry.name));
  const classes = dirents
    .filter((entry) => isFolder(root, entry))
    .map((entry) => entry.name)
    .sort(byCodePoint);
  const files = dirents
    .filter((entry) => !isFolder(root, entry))
    .map((entry) => entry.name)
    .sort(byCodePoint);
  if (classes.length === 0) {
    if (files.length === 0)
      throw new DatasetError(root, null, 'the folder holds no images (expected one subfolder per class, or images)');
    return {
      root,
      classes: null,
      entries: files.map((name) => ({ file: path.join(root, name), rel: name, label: null, origin: { file: root } })),
    };
  }
  const stray = files.find((name) => IMAGE_NAME.test(name));
  if (stray !== undefined) {
    throw new DatasetError(
      path.join(root, stray),
      null,
      `an image directly in a folder of class subfolders (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', …' : ''}): put it in its class's subfolder, or the subfolders elsewhere`,
    );
  }
  const entries: Entry[] = [];
  for (const name of classes) {
    const folder = path.join(root, name);
    const inside = filesUnder(folder);
    if (inside.length === 0) throw new DatasetError(folder, null, `the class folder '${name}' holds no images`);
    for (const rel of inside)
      entries.push({ file: path.join(folder, rel), rel: `${name}/${rel}`, label: name, origin: { file: folder } });
  }
  return { root, classes, entries };
}

function listIndex(index: string): Listing {
  let text: string;
  try {
    text = fs.readFileSync(index, 'utf8');
  } catch (error) {
    throw new DatasetError(
      index,
      null,
      `cannot read the index (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      { cause: error },
    );
  }
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parse } = require('csv-parse/sync') as typeof import('csv-parse/sync');
    rows = parse(text, {
      info: true,
      bom: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
    }) as unknown as typeof rows;
  } catch (error) {
    throw new DatasetError(
      index,
      null,
      `not a valid CSV index: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const header = (rows[0]?.record ?? []).map((cell) => cell.toLowerCase());
  const fileColumn = header.indexOf('file');
  const labelColumn = header.indexOf('label');
  if (fileColumn < 0) {
    throw new DatasetError(
      index,
      null,
      `line 1: expected a header with a 'file' column (and 'label' for labelled images), got: ${header.join(',') || '(empty)'}`,
    );
  }
  const base = path.dirname(index);
  const entries: Entry[] = [];
  for (const { record, info } of rows.slice(1)) {
    const line = info.lines;
    const cell = record[fileColumn] ?? '';
    if (cell === '') throw new DatasetError(index, null, `line ${line}: no file name`);
    const file = path.resolve(base, cell);
    if (!fs.existsSync(file)) throw new DatasetError(index, null, `line ${line}: ${cell}: no such file (${file})`);
    let label: string | null = null;
    if (labelColumn >= 0) {
      label = record[labelColumn] ?? '';
      if (label === '') throw new DatasetError(index, null, `line ${line}: ${cell} has no label`);
    }
    entries.push({ file, rel: cell.split(path.sep).join('/'), label, origin: { file: index, line } });
  }
  if (entries.length === 0) throw new DatasetError(index, null, 'the index lists no images');
  const classes =
    labelColumn >= 0
      ? [...new Set(entries.map((entry) => required(entry.label, 'the label of an entry')))].sort(byCodePoint)
      : null;
  return { root: index, classes, entries };
}

function originText(entry: Entry): { file: string; detail: string } {
  return entry.origin.line === undefined
    ? { file: entry.origin.file, detail: '' }
    : { file: entry.origin.file, detail: `line ${entry.origin.line}: ` };
}

// ------------------------------------------------------------ decoding, cached

interface Decoded {
  file: string;
  rows: number;
  skipped: number;
}

interface CacheMeta {
  rows: number;
  skipped: number;
  skippedFiles: string[];
}

function decoderVersion(): string {
  // The libvips version is part of the key: another release may resample differently.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const versions = (require('sharp') as typeof import('sharp')).versions as Record<string, string | undefined>;
  return `distillery-images-${CACHE_VERSION} sharp-${versions.sharp ?? '?'} vips-${versions.vips ?? '?'}`;
}

/** Runs `work` over 0..n-1 with `concurrency` tasks at a time, stopping at the first failure. */
async function forEachIndex(n: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < n) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

/**
 * A file's bytes, or why it cannot be read. Synchronous on purpose: for the small files image datasets are made
 * of, a blocking read costs ~50 µs where fs.promises.readFile's four thread-pool round trips cost ~100 µs.
 */
function readBytes(file: string): Uint8Array | NodeJS.ErrnoException {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
}

/**
 * Decodes `entries` (with their class indices, -1 when unlabelled) into the cache, or finds them there.
 * An unreadable image is a DatasetError naming the file, or skipped and counted (`onError: 'skip'`).
 */
async function decodeEntries(
  spec: ImagePreprocessSpec,
  entries: readonly Entry[],
  classes: Int32Array | null,
  onError: 'fail' | 'skip',
  root: string,
): Promise<Decoded> {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      decoder: decoderVersion(),
      spec: [spec.size, spec.channels, spec.fit],
      onError,
      labelled: classes !== null,
    }),
  );
  const kept = entries.map((): Uint8Array | null => null);
  const unreadable = entries.map((): NodeJS.ErrnoException | null => null);
  const digests = entries.map(() => '');
  let keptBytes = 0;
  entries.forEach((entry, index) => {
    const bytes = readBytes(entry.file);
    if (bytes instanceof Error) {
      unreadable[index] = bytes;
      digests[index] = `unreadable:${bytes.code ?? ''}`;
      return;
    }
    digests[index] = createHash('sha256').update(bytes).digest('hex');
    if (keptBytes + bytes.length <= KEEP_BYTES) {
      kept[index] = bytes;
      keptBytes += bytes.length;
    }
  });
  entries.forEach((entry, index) => hash.update(`${entry.rel}\n${classes?.[index] ?? -1}\n${digests[index] ?? ''}\n`));
  const key = hash.digest('hex');
  const dir = imageCacheDir();
  const file = path.join(dir, `${key}.npz`);
  const metaFile = path.join(dir, `${key}.json`);
  const cached = readMeta(metaFile);
  if (cached !== null && fs.existsSync(file)) return { file, rows: cached.rows, skipped: cached.skipped };

  const [height, width] = spec.size;
  const sample = spec.channels * height * width;
  const x = new Uint8Array(entries.length * sample);
  const ok = new Uint8Array(entries.length);
  const skippedFiles: string[] = [];
  await forEachIndex(entries.length, 2 * maxConcurrency(), async (index) => {
    const entry = required(entries[index], 'an entry');
    try {
      const error = unreadable[index];
      if (error)
        throw new ImageDecodeError('unreadable', `cannot read the file (${error.code ?? error.message})`, {
          cause: error,
        });
      let bytes = kept[index] ?? null;
      if (bytes === null) {
        const read = readBytes(entry.file);
        if (read instanceof Error)
          throw new ImageDecodeError('unreadable', `cannot read the file (${read.code ?? read.message})`, {
            cause: read,
          });
        bytes = read;
      }
      x.set(await decodePixels(spec, bytes), index * sample);
      ok[index] = 1;
    } catch (error) {
      if (!(error instanceof ImageDecodeError)) throw error;
      if (onError === 'skip') {
        skippedFiles.push(entry.file);
        return;
      }
      const what = error.reason === 'not-an-image' ? 'not a PNG, JPEG or WebP image' : 'not a readable image';
      throw new DatasetError(
        entry.file,
        null,
        `${what}: ${error.message} (or set onError: 'skip' to leave such files out)`,
        { cause: error },
      );
    }
  });
  const rows = ok.reduce((total, value) => total + value, 0);
  if (rows === 0)
    throw new DatasetError(root, null, `none of its ${entries.length} images could be read (all skipped)`);
  let pixels = x;
  let labels = classes;
  if (rows < entries.length) {
    pixels = new Uint8Array(rows * sample);
    labels = classes ? new Int32Array(rows) : null;
    for (let index = 0, row = 0; index < entries.length; index++) {
      if (!ok[index]) continue;
      pixels.set(x.subarray(index * sample, (index + 1) * sample), row * sample);
      if (labels && classes) labels[row] = required(classes[index], 'the class of an image');
      row++;
    }
  }
  const arrays: Record<string, Uint8Array> = { 'x.npy': npyBytes(pixels, [rows, spec.channels, height, width]) };
  if (labels)
    arrays['y.npy'] = npyBytes(
      BigInt64Array.from(labels, (label) => BigInt(label)),
      [rows],
    );
  writeFileAtomic(file, zipSync(arrays, { level: 0 }));
  const meta: CacheMeta = { rows, skipped: entries.length - rows, skippedFiles: skippedFiles.sort(byCodePoint) };
  writeFileAtomic(metaFile, JSON.stringify(meta)); // written last: an entry without it is never read
  return { file, rows, skipped: meta.skipped };
}

function readMeta(file: string): CacheMeta | null {
  try {
    const meta = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<CacheMeta>;
    return typeof meta.rows === 'number' && typeof meta.skipped === 'number' ? (meta as CacheMeta) : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------ the data config

function specOf(source: ImagesSourceConfig): ImagePreprocessSpec {
  return { kind: 'image', size: [source.size[0], source.size[1]], channels: source.channels, fit: source.fit };
}

/** How class names become indices: data.train's sorted class names, or data.labels (the same names in another order, or as many new names). */
function classMapping(
  classes: string[],
  given: readonly string[] | undefined,
): { labels: string[]; indexOf: Map<string, number> } {
  if (given === undefined) return { labels: classes, indexOf: new Map(classes.map((name, index) => [name, index])) };
  if (given.length !== classes.length) {
    throw new ConfigError([
      {
        path: 'data.labels',
        message: `${given.length} names for the ${classes.length} classes of data.train (${classes.join(', ')})`,
      },
    ]);
  }
  const sameNames = new Set(given).size === given.length && given.every((name) => classes.includes(name));
  // The folder names in data.labels' order; otherwise data.labels names the sorted folders, one by one.
  const order = sameNames ? given : classes;
  return { labels: [...given], indexOf: new Map(order.map((name, index) => [name, index])) };
}

/** Class indices of the entries, or a DatasetError naming a class the mapping lacks. */
function classIndices(entries: readonly Entry[], indexOf: ReadonlyMap<string, number>, known: string): Int32Array {
  const out = new Int32Array(entries.length);
  entries.forEach((entry, index) => {
    const label = required(entry.label, 'the label of an entry');
    const value = indexOf.get(label);
    if (value === undefined) {
      const { file, detail } = originText(entry);
      const what = entry.origin.line === undefined ? `the class folder '${label}'` : `the label '${label}'`;
      throw new DatasetError(file, null, `${detail}${what} is not one of ${known}: ${[...indexOf.keys()].join(', ')}`);
    }
    out[index] = value;
  });
  return out;
}

function slice(entries: Entry[], source: ImagesSourceConfig, where: string): Entry[] {
  if (source.offset >= entries.length) {
    throw new ConfigError([
      { path: `${where}.offset`, message: `${source.offset} is past the last of the ${entries.length} images` },
    ]);
  }
  return entries.slice(source.offset, source.limit === undefined ? undefined : source.offset + source.limit);
}

export async function prepareImages(
  data: DataConfig,
  images: [Role, ImagesSourceConfig][],
  dir: string,
): Promise<PreparedData> {
  const train = images.find(([role]) => role === 'train')?.[1];
  if (!train)
    throw new ConfigError([
      { path: 'data.train.type', message: "expected 'images': the decoding is set by data.train" },
    ]);
  if (data.task !== 'classification') {
    throw new ConfigError([
      { path: 'data.task', message: "expected 'classification': an image folder's classes are its subfolders" },
    ]);
  }
  const spec = specOf(train);
  for (const [role, source] of images) {
    const fields: [string, unknown, unknown][] = [
      ['size', source.size, train.size],
      ['channels', source.channels, train.channels],
      ['fit', source.fit, train.fit],
    ];
    for (const [field, value, expected] of fields) {
      if (JSON.stringify(value) !== JSON.stringify(expected)) {
        throw new ConfigError([
          {
            path: `data.${role}.${field}`,
            message: `expected ${JSON.stringify(expected)} like data.train: every split is decoded as the model will decode its inputs (got ${JSON.stringify(value)})`,
          },
        ]);
      }
    }
  }
  // Every listing first: a missing folder or a stray class fails before anything is decoded.
  const listings = images.map(([role, source]) => ({ role, source, listing: listImages(source.path, `data.${role}`) }));
  const trainListing = required(
    listings.find(({ role }) => role === 'train'),
    'the listing of data.train',
  ).listing;
  if (trainListing.classes === null) {
    throw new DatasetError(
      trainListing.root,
      null,
      'data.train needs labelled images: one subfolder per class, or an index with a label column',
    );
  }
  const { labels, indexOf } = classMapping(trainListing.classes, data.labels);
  if (data.numClasses !== undefined && data.numClasses !== labels.length) {
    throw new ConfigError([
      {
        path: 'data.numClasses',
        message: `${data.numClasses}, but data.train has ${labels.length} classes (${trainListing.classes.join(', ')})`,
      },
    ]);
  }
  const selected = listings.map(({ role, source, listing }) => {
    const labelled = source.labelled && listing.classes !== null;
    const classes = labelled ? classIndices(listing.entries, indexOf, "data.train's classes") : null;
    const start = Math.min(source.offset, listing.entries.length);
    const entries = slice(listing.entries, source, `data.${role}`);
    return { role, source, listing, entries, classes: classes ? classes.slice(start, start + entries.length) : null };
  });
  const engine: Record<string, unknown> = { ...data, preprocess: spec, labels, numClasses: labels.length };
  const rows: Record<string, number> = {};
  const skipped: Record<string, number> = {};
  const files: Partial<Record<Role, string[]>> = {};
  for (const { role, source, listing, entries, classes } of selected) {
    const decoded = await decodeEntries(spec, entries, classes, source.onError, listing.root);
    engine[role] = {
      type: 'file',
      path: linkIntoRun(decoded.file, dir, role),
      x: 'x',
      y: 'y',
      offset: 0,
      labelled: classes !== null,
    };
    rows[role] = decoded.rows;
    skipped[role] = decoded.skipped;
    // The files behind the rows, for a teacher you call (src/data/rows.ts); unknown once some were skipped.
    if (decoded.skipped === 0) files[role] = entries.map((entry) => entry.file);
  }
  return { data: engine, summary: { kind: 'images', rows, skipped }, files };
}

/**
 * The cached arrays, linked into the run folder as `<out>/data/<role>-encoded.npz`: the run folder stays
 * self-contained — resolved-config.json and `python -m distillery` never point into a cache that may be cleaned —
 * and a hard link costs no space.
 */
function linkIntoRun(cached: string, dir: string, role: string): string {
  const target = path.join(dir, 'data', `${role}-encoded.npz`);
  linkFileAtomic(cached, target);
  return target;
}

// ------------------------------------------------------------ the CLI's helpers

/** The image files at a path: the file itself, or every PNG/JPEG/WebP file under a folder, sorted (CLI `predict`). */
export async function imageFiles(source: string): Promise<string[]> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(
      source,
      null,
      code === 'ENOENT' ? 'no such file or folder' : `cannot read it (${code ?? String(error)})`,
      { cause: error },
    );
  }
  if (!stat.isDirectory()) return [source];
  const files = filesUnder(source, (name) => IMAGE_NAME.test(name));
  if (files.length === 0) throw new DatasetError(source, null, 'no PNG, JPEG or WebP files in the folder');
  return files.map((rel) => path.join(source, rel));
}

/**
 * A folder of labelled images (one subfolder per class, or an index .csv) decoded with a model's own
 * preprocessing, for evaluation (CLI `eval --data folder/`): subfolder names map to the model's labels.
 */
export async function imageDataset(
  source: string,
  spec: ImagePreprocessSpec,
  labels: readonly string[] | null,
): Promise<Dataset> {
  const listing = listImages(source, 'data');
  if (listing.classes === null) {
    throw new DatasetError(
      listing.root,
      null,
      'evaluation needs labelled images: one subfolder per class, or an index with a label column',
    );
  }
  const names = labels ?? listing.classes;
  const indexOf = new Map(names.map((name, index) => [name, index]));
  const classes = classIndices(listing.entries, indexOf, "the model's labels");
  const decoded = await decodeEntries(spec, listing.entries, classes, 'fail', listing.root);
  const dataset = await loadDataset(decoded.file);
  return datasetFromArrays({ x: dataset.x, y: dataset.y, sampleShape: [spec.channels, spec.size[0], spec.size[1]] });
}
