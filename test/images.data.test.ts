/**
 * Image folders and index files → the engine's arrays (src/data/images.ts): listing, labels, slices, the
 * content-keyed cache, every bad input of docs/ERRORS.md (100–109), and the CLI's helpers.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import sharp from 'sharp';
import { ConfigError } from '../src/config/errors';
import { Data, type DataConfig } from '../src/config/schema';
import { prepareData } from '../src/data';
import { imageCacheDir, imageDataset, imageFiles } from '../src/data/images';
import { DatasetError, loadDataset } from '../src/eval/dataset';
import * as imageModule from '../src/preprocess/image';
import type { ImagePreprocessSpec } from '../src/preprocess/spec';
import { tempDir } from './support/tiny';
import { instanceOf } from './support/expect';

const CACHE = tempDir('images-cache');
process.env.DISTILLERY_CACHE_DIR = CACHE;

/** A 1-channel PNG whose every pixel is `value` (so a decoded row tells which image it was). */
async function png(
  file: string,
  value: number,
  size: [number, number] = [8, 8],
  channels: 1 | 3 | 4 = 1,
): Promise<string> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const [h, w] = size;
  const pixels = Buffer.alloc(h * w * channels, value);
  if (channels === 4) for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
  const image = sharp(pixels, { raw: { width: w, height: h, channels } });
  await (channels === 1 ? image.toColourspace('b-w') : image).png().toFile(file);
  return file;
}

/** root/<class>/<i>.png for each class, pixel value 10 * classIndex + i. */
async function classFolder(root: string, classes: Record<string, number>): Promise<string> {
  let classIndex = 0;
  for (const [name, count] of Object.entries(classes)) {
    for (let i = 0; i < count; i++) await png(path.join(root, name, `${i}.png`), 10 * classIndex + i);
    classIndex++;
  }
  return root;
}

function data(input: Record<string, unknown>): DataConfig {
  return Data.parse(input);
}

const images = (folder: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'images',
  path: folder,
  size: [8, 8],
  channels: 1,
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as Error,
  );
}

/** A fresh run folder, apart from the images (prepareData links the arrays into its data/ folder). */
function runFolder(): string {
  return tempDir('images-run');
}

function cacheFiles(): string[] {
  return fs.existsSync(imageCacheDir()) ? fs.readdirSync(imageCacheDir()) : [];
}

/** First pixel of every row of a prepared split, and its labels. */
async function rowsOf(
  prepared: Awaited<ReturnType<typeof prepareData>>,
  role: 'train' | 'test' | 'transfer' | 'validation',
): Promise<{ first: number[]; y: number[] | null; shape: readonly number[] }> {
  const source = prepared.data[role] as { type: string; path: string; labelled: boolean };
  expect(source.type).toBe('file');
  const dataset = await loadDataset(source.path).catch((error: unknown) => {
    // An unlabelled split has no y array: loadDataset wants one, so read x alone.
    if (!(error instanceof DatasetError) || !error.message.includes('array y')) throw error;
    return null;
  });
  if (dataset === null) {
    const members = unzipSync(fs.readFileSync(source.path));
    expect(Object.keys(members)).toEqual(['x.npy']);
    return { first: [], y: null, shape: [] };
  }
  const width = dataset.sampleShape.reduce((a, b) => a * b, 1);
  return {
    first: Array.from({ length: dataset.size }, (_, i) => dataset.x[i * width]!),
    y: Array.from(dataset.y!),
    shape: dataset.sampleShape,
  };
}

describe('folders', () => {
  test('one subfolder per class: x uint8 [N, 1, H, W], y int64 indices into the sorted class names, in a fixed order', async () => {
    const root = tempDir('images-folder');
    const train = await classFolder(path.join(root, 'train'), { cat: 3, ant: 2, bee: 2 });
    const test = await classFolder(path.join(root, 'test'), { ant: 1, cat: 1 }); // a class may be absent from test
    const prepared = await prepareData(data({ train: images(train), test: images(test) }), runFolder());
    expect(prepared.data.preprocess).toEqual({ kind: 'image', size: [8, 8], channels: 1, fit: 'fill' });
    expect(prepared.data.labels).toEqual(['ant', 'bee', 'cat']);
    expect(prepared.data.numClasses).toBe(3);
    expect(prepared.summary).toEqual({ kind: 'images', rows: { train: 7, test: 2 }, skipped: { train: 0, test: 0 } });
    const rows = await rowsOf(prepared, 'train');
    expect(rows.shape).toEqual([1, 8, 8]);
    // ant (written as class 1: values 10, 11), bee (20, 21), cat (0, 1, 2)
    expect(rows.first).toEqual([10, 11, 20, 21, 0, 1, 2]);
    expect(rows.y).toEqual([0, 0, 1, 1, 2, 2, 2]);
    const testRows = await rowsOf(prepared, 'test');
    expect(testRows.first).toEqual([0, 10]); // test's "ant" was written first: value 0; its "cat" 10
    expect(testRows.y).toEqual([0, 2]);
    const raw = fs.readFileSync((prepared.data.train as { path: string }).path);
    expect(raw.includes(Buffer.from("'descr': '<i8'"))).toBe(true); // y is int64
    const linked = (prepared.data.train as { path: string }).path;
    expect(path.basename(linked)).toBe('train-encoded.npz'); // in the run folder, a hard link to the cache entry
    expect(fs.statSync(linked).nlink).toBe(2);
    expect(cacheFiles().filter((name) => name.endsWith('.npz')).length).toBeGreaterThan(0);
  });

  test('class names sort by code point ("10" before "2"); images in nested folders of a class count', async () => {
    const root = await classFolder(tempDir('images-sort'), { '2': 1, '10': 1 });
    await png(path.join(root, '2', 'more', 'deep.png'), 99);
    fs.writeFileSync(path.join(root, '2', '.DS_Store'), 'ignored');
    fs.writeFileSync(path.join(root, 'README.md'), 'a note next to the class folders: ignored');
    const prepared = await prepareData(data({ train: images(root), test: images(root) }), runFolder());
    expect(prepared.data.labels).toEqual(['10', '2']);
    expect((await rowsOf(prepared, 'train')).first).toEqual([10, 0, 99]);
  });

  test('offset and limit take a slice of the sorted list; a folder of images alone is unlabelled (a transfer set)', async () => {
    const root = tempDir('images-slice');
    const train = await classFolder(path.join(root, 'train'), { a: 3, b: 3 });
    const transfer = path.join(root, 'unlabelled');
    for (let i = 0; i < 4; i++) await png(path.join(transfer, `u${i}.png`), 50 + i);
    const prepared = await prepareData(
      data({
        train: images(train, { offset: 1, limit: 4 }),
        test: images(train, { labelled: false }),
        transfer: images(transfer),
        validation: { type: 'split' },
      }),
      root,
    );
    expect((await rowsOf(prepared, 'train')).first).toEqual([1, 2, 10, 11]);
    expect(prepared.data.transfer).toMatchObject({ type: 'file', labelled: false });
    expect(prepared.data.test).toMatchObject({ labelled: false });
    expect((await rowsOf(prepared, 'transfer')).y).toBeNull();
    expect(prepared.data.validation).toEqual({ type: 'split', fraction: 0.1 }); // the engine splits it
    expect(prepared.summary.rows).toEqual({ train: 4, test: 6, transfer: 4 });
  });

  test('data.labels: the folder names in another order set the indices; other names rename the sorted folders; a wrong count is refused', async () => {
    const root = await classFolder(tempDir('images-labels'), { a: 1, b: 1 });
    const reordered = await prepareData(
      data({ train: images(root), test: images(root), labels: ['b', 'a'] }),
      runFolder(),
    );
    expect(reordered.data.labels).toEqual(['b', 'a']);
    expect((await rowsOf(reordered, 'train')).y).toEqual([1, 0]);
    const renamed = await prepareData(
      data({ train: images(root), test: images(root), labels: ['first', 'second'] }),
      runFolder(),
    );
    expect((await rowsOf(renamed, 'train')).y).toEqual([0, 1]);
    const error = await rejection(
      prepareData(data({ train: images(root), test: images(root), labels: ['x', 'y', 'z'] }), runFolder()),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('data.labels: 3 names for the 2 classes of data.train (a, b)');
  });

  test('every split must be decoded alike: a different size, channels or fit is a ConfigError naming the field', async () => {
    const root = await classFolder(tempDir('images-spec'), { a: 1, b: 1 });
    for (const [field, value] of [
      ['size', [9, 8]],
      ['channels', 3],
      ['fit', 'cover'],
    ] as const) {
      const error = await rejection(
        prepareData(data({ train: images(root), test: images(root, { [field]: value }) }), runFolder()),
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect(instanceOf(error, ConfigError).field).toBe(`data.test.${field}`);
      expect(error.message).toContain('like data.train');
    }
  });

  test('mixed images — RGB, RGBA, grayscale, other sizes, JPEG, WebP — are converted and resized, not refused', async () => {
    const root = tempDir('images-mixed');
    await png(path.join(root, 'a', 'gray.png'), 100);
    await png(path.join(root, 'a', 'rgb.png'), 100, [8, 8], 3);
    await png(path.join(root, 'a', 'rgba.png'), 100, [8, 8], 4);
    await png(path.join(root, 'b', 'big.png'), 100, [20, 12], 3);
    await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } })
      .jpeg({ quality: 100 })
      .toFile(path.join(root, 'b', 'photo.jpg'));
    await sharp(Buffer.alloc(8 * 8 * 3, 100), { raw: { width: 8, height: 8, channels: 3 } })
      .webp({ lossless: true })
      .toFile(path.join(root, 'b', 'web.webp'));
    for (const channels of [1, 3] as const) {
      const prepared = await prepareData(
        data({ train: images(root, { channels }), test: images(root, { channels }) }),
        runFolder(),
      );
      const dataset = await loadDataset((prepared.data.train as { path: string }).path);
      expect(dataset.sampleShape).toEqual([channels, 8, 8]);
      expect(dataset.size).toBe(6);
      expect(Array.from(dataset.x).every((v) => Math.abs(v - 100) <= 1)).toBe(true);
    }
  });
});

describe('index files', () => {
  test('file,label rows: paths relative to the index, labels as classes, row order kept; without a label column: unlabelled', async () => {
    const root = tempDir('images-index');
    await png(path.join(root, 'pics', 'x.png'), 1);
    await png(path.join(root, 'pics', 'y, with a comma.png'), 2);
    await png(path.join(root, 'z.png'), 3);
    const index = path.join(root, 'train.csv');
    fs.writeFileSync(index, 'file,label\npics/x.png,dog\n"pics/y, with a comma.png",cat\n\nz.png,dog\n');
    const unlabelled = path.join(root, 'unlabelled.csv');
    fs.writeFileSync(unlabelled, 'file\nz.png\npics/x.png\n');
    const prepared = await prepareData(
      data({ train: images(index), test: images(index), transfer: images(unlabelled) }),
      runFolder(),
    );
    expect(prepared.data.labels).toEqual(['cat', 'dog']);
    expect(await rowsOf(prepared, 'train')).toMatchObject({ first: [1, 2, 3], y: [1, 0, 1] });
    expect(prepared.data.transfer).toMatchObject({ labelled: false });
    expect(prepared.summary.rows.transfer).toBe(2);
  });

  test('a row naming a missing file: DatasetError naming the index and the line', async () => {
    const root = tempDir('images-index-missing');
    await png(path.join(root, 'a.png'), 1);
    const index = path.join(root, 'index.csv');
    fs.writeFileSync(index, 'file,label\na.png,0\nb.png,1\n');
    const error = await rejection(prepareData(data({ train: images(index), test: images(index) }), runFolder()));
    expect(error).toBeInstanceOf(DatasetError);
    expect(instanceOf(error, DatasetError).file).toBe(index);
    expect(error.message).toBe(`dataset ${index}: line 3: b.png: no such file (${path.join(root, 'b.png')})`);
  });

  test('an index without a file column, an empty label, a label that data.train lacks: each names the index and line', async () => {
    const root = tempDir('images-index-bad');
    await png(path.join(root, 'a.png'), 1);
    const write = (name: string, text: string): string => {
      fs.writeFileSync(path.join(root, name), text);
      return path.join(root, name);
    };
    const good = write('good.csv', 'file,label\na.png,0\na.png,1\n');
    const cases: [string, RegExp][] = [
      [write('header.csv', 'path,label\na.png,0\n'), /line 1: expected a header with a 'file' column/],
      [write('empty-label.csv', 'file,label\na.png,\n'), /line 2: a\.png has no label/],
      [
        write('stray.csv', 'file,label\na.png,0\n\na.png,7\n'),
        /line 4: the label '7' is not one of data\.train's classes: 0, 1/,
      ],
      [write('broken.csv', 'file,label\n"a.png,0\n'), /not a valid CSV index: Quote Not Closed/],
    ];
    for (const [index, pattern] of cases) {
      const error = await rejection(prepareData(data({ train: images(good), test: images(index) }), runFolder()));
      expect(error).toBeInstanceOf(DatasetError);
      expect(instanceOf(error, DatasetError).file).toBe(index);
      expect(error.message).toMatch(pattern);
    }
  });
});

describe('the cache', () => {
  test('a second run decodes nothing; changing one image decodes again', async () => {
    const root = tempDir('images-cache-hit');
    const train = path.join(root, 'train');
    for (let i = 0; i < 200; i++) await png(path.join(train, String(i % 2), `${i}.png`), i, [28, 28]);
    const config = data({
      train: images(train, { size: [28, 28] }),
      test: images(train, { size: [28, 28], limit: 50 }),
    });
    const spy = jest.spyOn(imageModule, 'decodePixels');
    try {
      const out = runFolder();
      const first = await prepareData(config, out);
      const digest = (source: unknown): string =>
        crypto
          .createHash('sha256')
          .update(fs.readFileSync((source as { path: string }).path))
          .digest('hex');
      const [firstTrain, firstTest] = [digest(first.data.train), digest(first.data.test)];
      expect(spy).toHaveBeenCalledTimes(250);
      spy.mockClear();
      const second = await prepareData(config, out);
      expect(spy).not.toHaveBeenCalled();
      expect(second).toEqual(first);
      await png(path.join(train, '1', '199.png'), 7, [28, 28]);
      const third = await prepareData(config, out);
      expect(spy).toHaveBeenCalledTimes(200); // train changed; test's first 50 did not
      // The run folder's arrays are links to the cache entries: train's is a new entry, test's the same one.
      expect((third.data.train as { path: string }).path).toBe(path.join(out, 'data', 'train-encoded.npz'));
      expect(digest(third.data.train)).not.toBe(firstTrain);
      expect(digest(third.data.test)).toBe(firstTest);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('bad inputs', () => {
  test('a corrupt image: DatasetError naming the file; with onError: skip, left out and counted', async () => {
    const root = await classFolder(tempDir('images-corrupt'), { a: 2, b: 2 });
    const corrupt = path.join(root, 'b', '1.png');
    fs.writeFileSync(corrupt, fs.readFileSync(corrupt).subarray(0, 50));
    const before = cacheFiles();
    const error = await rejection(prepareData(data({ train: images(root), test: images(root) }), runFolder()));
    expect(error).toBeInstanceOf(DatasetError);
    expect(instanceOf(error, DatasetError).file).toBe(corrupt);
    expect(error.message).toMatch(
      new RegExp(
        `^dataset ${corrupt}: not a readable image: corrupt, truncated or unsupported image: .+ \\(or set onError: 'skip'`,
      ),
    );
    expect(cacheFiles()).toEqual(before); // nothing half-written
    const skipped = await prepareData(
      data({ train: images(root, { onError: 'skip' }), test: images(root, { onError: 'skip', offset: 2 }) }),
      runFolder(),
    );
    expect(skipped.summary).toEqual({ kind: 'images', rows: { train: 3, test: 1 }, skipped: { train: 1, test: 1 } });
    expect((await rowsOf(skipped, 'train')).y).toEqual([0, 0, 1]);
    const again = await prepareData(
      data({ train: images(root, { onError: 'skip' }), test: images(root, { onError: 'skip', offset: 2 }) }),
      runFolder(),
    );
    expect(again.summary).toEqual(skipped.summary); // the count comes from the cache too
  });

  test('a file that is not an image (text named .png, a stray .txt, a GIF): DatasetError naming it', async () => {
    for (const [name, bytes] of [
      ['notes.txt', 'hello'],
      ['fake.png', 'not really a PNG'],
      ['anim.gif', 'GIF89a\x01\x00\x01\x00'],
    ] as const) {
      const root = await classFolder(tempDir('images-not-image'), { a: 1, b: 1 });
      fs.writeFileSync(path.join(root, 'a', name), bytes);
      const error = await rejection(prepareData(data({ train: images(root), test: images(root) }), runFolder()));
      expect(error).toBeInstanceOf(DatasetError);
      expect(instanceOf(error, DatasetError).file).toBe(path.join(root, 'a', name));
      expect(error.message).toContain('not a PNG, JPEG or WebP image: no PNG, JPEG or WebP signature; it starts with');
    }
  });

  test('an empty class folder, an empty folder, an image beside class folders: DatasetError naming the folder or file', async () => {
    const root = await classFolder(tempDir('images-empty-class'), { a: 1, b: 1 });
    fs.mkdirSync(path.join(root, 'c'));
    let error = await rejection(prepareData(data({ train: images(root), test: images(root) }), runFolder()));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`dataset ${path.join(root, 'c')}: the class folder 'c' holds no images`);
    const empty = tempDir('images-empty');
    error = await rejection(prepareData(data({ train: images(empty), test: images(empty) }), runFolder()));
    expect(error.message).toBe(
      `dataset ${empty}: the folder holds no images (expected one subfolder per class, or images)`,
    );
    const stray = await classFolder(tempDir('images-stray'), { a: 1, b: 1 });
    await png(path.join(stray, 'loose.png'), 1);
    error = await rejection(prepareData(data({ train: images(stray), test: images(stray) }), runFolder()));
    expect(instanceOf(error, DatasetError).file).toBe(path.join(stray, 'loose.png'));
    expect(error.message).toContain(
      "an image directly in a folder of class subfolders (a, b): put it in its class's subfolder",
    );
  });

  test('a missing folder or index file: ConfigError naming data.<split>.path, before anything is decoded', async () => {
    const root = await classFolder(tempDir('images-missing'), { a: 1, b: 1 });
    for (const missing of [path.join(root, 'nope'), path.join(root, 'nope.csv')]) {
      const error = await rejection(prepareData(data({ train: images(root), test: images(missing) }), runFolder()));
      expect(error).toBeInstanceOf(ConfigError);
      expect(instanceOf(error, ConfigError).field).toBe('data.test.path');
      expect(error.message).toContain(`no such folder or file: ${missing}`);
    }
    const file = path.join(root, 'a', '0.png');
    const error = await rejection(prepareData(data({ train: images(file), test: images(root) }), runFolder()));
    expect(error.message).toContain(
      `data.train.path: expected a folder of images or an index .csv, got the file ${file}`,
    );
  });

  test('a test class that data.train lacks: DatasetError naming its folder; an unlabelled data.train is refused', async () => {
    const root = tempDir('images-stray-class');
    const train = await classFolder(path.join(root, 'train'), { a: 1, b: 1 });
    const test = await classFolder(path.join(root, 'test'), { a: 1, z: 1 });
    let error = await rejection(prepareData(data({ train: images(train), test: images(test) }), runFolder()));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      `dataset ${path.join(test, 'z')}: the class folder 'z' is not one of data.train's classes: a, b`,
    );
    const flat = path.join(root, 'flat');
    await png(path.join(flat, 'x.png'), 1);
    error = await rejection(prepareData(data({ train: images(flat), test: images(test) }), runFolder()));
    expect(error.message).toContain('data.train needs labelled images');
  });

  test('every image skipped, an offset past the end, regression on images: clear errors', async () => {
    const root = tempDir('images-all-bad');
    fs.mkdirSync(path.join(root, 'a'));
    fs.writeFileSync(path.join(root, 'a', 'x.png'), 'junk');
    const good = await classFolder(tempDir('images-good'), { a: 1, b: 1 });
    let error = await rejection(
      prepareData(data({ train: images(good), test: images(root, { onError: 'skip' }) }), runFolder()),
    );
    expect(error.message).toBe(`dataset ${root}: none of its 1 images could be read (all skipped)`);
    error = await rejection(prepareData(data({ train: images(good, { offset: 2 }), test: images(good) }), runFolder()));
    expect(instanceOf(error, ConfigError).field).toBe('data.train.offset');
    error = await rejection(
      prepareData(data({ task: 'regression', train: images(good), test: images(good) }), runFolder()),
    );
    expect(instanceOf(error, ConfigError).field).toBe('data.task');
  });
});

describe('the CLI helpers', () => {
  test('imageFiles: a file as it is; a folder: every image under it, sorted, hidden files and others left out', async () => {
    const root = tempDir('images-files');
    await png(path.join(root, 'b.png'), 1);
    await png(path.join(root, 'a', 'c.png'), 1);
    await png(path.join(root, '.hidden.png'), 1);
    fs.writeFileSync(path.join(root, 'notes.txt'), 'x');
    fs.writeFileSync(path.join(root, 'D.JPG'), 'x');
    expect(await imageFiles(root)).toEqual([
      path.join(root, 'D.JPG'),
      path.join(root, 'a', 'c.png'),
      path.join(root, 'b.png'),
    ]);
    expect(await imageFiles(path.join(root, 'b.png'))).toEqual([path.join(root, 'b.png')]);
    const missing = await rejection(imageFiles(path.join(root, 'nope')));
    expect(missing).toBeInstanceOf(DatasetError);
    expect(missing.message).toBe(`dataset ${path.join(root, 'nope')}: no such file or folder`);
    const empty = tempDir('images-files-empty');
    expect((await rejection(imageFiles(empty))).message).toBe(
      `dataset ${empty}: no PNG, JPEG or WebP files in the folder`,
    );
  });

  test("imageDataset: class folders map to the model's labels by name", async () => {
    const root = await classFolder(tempDir('images-eval'), { c: 1, b: 2 });
    const spec: ImagePreprocessSpec = { kind: 'image', size: [8, 8], channels: 1, fit: 'fill' };
    const dataset = await imageDataset(root, spec, ['a', 'b', 'c']);
    expect(dataset.sampleShape).toEqual([1, 8, 8]);
    expect(Array.from(dataset.y!)).toEqual([1, 1, 2]);
    expect(Array.from({ length: 3 }, (_, i) => dataset.x[i * 64])).toEqual([10, 11, 0]);
    const error = await rejection(imageDataset(root, spec, ['a', 'b']));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      `dataset ${path.join(root, 'c')}: the class folder 'c' is not one of the model's labels: a, b`,
    );
  });
});
