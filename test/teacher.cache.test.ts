/**
 * The teacher's answer cache (src/teacher/cache.ts): content keys for rows, and the on-disk cache of answers per
 * teacher identity, written a chunk at a time through writeFileAtomic.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputValidationError } from '../src/core/errors';
import * as files from '../src/io/files';
import { AnswerCache, AnswerCacheError, rowKey, type CacheIdentity } from '../src/teacher/cache';
import { tempDir } from './support/tiny';

const identity: CacheIdentity = { teacher: 'module:./teacher.js#classify', kind: 'auto', classes: ['cat', 'dog'] };

/** Every file under `dir`, relative to it, sorted. */
function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => fs.statSync(path.join(dir, name)).isFile())
    .sort();
}

describe('rowKey', () => {
  test('is a sha256 hex digest, pinned: changing the encoding must bump CACHE_FORMAT', () => {
    expect(rowKey('hello')).toMatch(/^[0-9a-f]{64}$/);
    // The encoding spelled out: if it changes, every cached answer is silently lost (keys no longer match), so a
    // change must bump CACHE_FORMAT and this test with it. Keys sorted, each value tagged, lengths before contents.
    const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
    expect(rowKey({ text: 'hello', n: [1, 2.5] })).toBe(sha256('{2:k1:n[2:n1;n2.5;k4:texts5:hello'));
    const float = createHash('sha256')
      .update('aFloat32Array:4:')
      .update(Buffer.from([0, 0, 0x80, 0x3f])); // 1.0f, LE
    expect(rowKey(new Float32Array([1]))).toBe(float.digest('hex'));
  });

  test('is the same whatever the key order of objects, nested ones included', () => {
    const a = { id: 3, features: { width: 2, height: 1 }, tags: ['x', 'y'] };
    const b = { tags: ['x', 'y'], features: { height: 1, width: 2 }, id: 3 };
    expect(rowKey(a)).toBe(rowKey(b));
    expect(rowKey(a)).not.toBe(rowKey({ ...a, tags: ['y', 'x'] })); // array order matters
    expect(rowKey({ a: 1, b: undefined })).toBe(rowKey({ a: 1 })); // as in JSON
    expect(rowKey({ a: 1 })).not.toBe(rowKey({ a: '1' }));
  });

  test('tells strings from bytes, and typed arrays apart by dtype', () => {
    const bytes = new Uint8Array([104, 105]); // "hi" in UTF-8
    expect(rowKey('hi')).not.toBe(rowKey(bytes));
    expect(rowKey(Buffer.from('hi'))).toBe(rowKey(bytes)); // a Buffer is bytes too
    expect(rowKey(bytes.buffer)).toBe(rowKey(bytes));
    expect(rowKey(new Int8Array([104, 105]))).not.toBe(rowKey(bytes));
    expect(rowKey(new Float32Array([1, 2]))).not.toBe(rowKey(new Float64Array([1, 2])));
    expect(rowKey(new Float32Array([1, 2]))).toBe(rowKey(new Float32Array([1, 2])));
    expect(rowKey([1, 2])).not.toBe(rowKey(new Float64Array([1, 2])));
    expect(rowKey(1)).not.toBe(rowKey('1'));
    expect(rowKey(null)).not.toBe(rowKey('null'));
    expect(rowKey(['a', 'b'])).not.toBe(rowKey(['ab']));
  });

  test('hashes a view by its own bytes, not the whole buffer under it', () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5]);
    expect(rowKey(whole.subarray(1, 3))).toBe(rowKey(new Uint8Array([2, 3])));
    expect(rowKey(new Float32Array(whole.buffer.slice(0, 4)))).not.toBe(rowKey(whole.subarray(0, 4)));
  });

  test('refuses what it cannot hash the same way twice: functions, Maps, class instances, cycles', () => {
    expect(() => rowKey(() => 1)).toThrow(InputValidationError);
    expect(() => rowKey({ a: new Map() })).toThrow('input.a: expected a string, bytes');
    class Point {
      x = 1;
    }
    expect(() => rowKey([new Point()])).toThrow('input[0]');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => rowKey(cycle)).toThrow(
      'input.self: expected a string, bytes, a typed array, a number, a boolean, null, an array or a plain object, received a value that contains itself',
    );
    const shared = { x: 1 };
    expect(() => rowKey([shared, shared])).not.toThrow(); // the same object twice is not a cycle
  });
});

describe('AnswerCache', () => {
  test('the same identity reopens and sees the answers; the first chunk decides an auto kind', () => {
    const dir = tempDir('cache-reopen');
    const cache = AnswerCache.open(dir, identity);
    expect(cache.size).toBe(0);
    expect(cache.kind).toBeUndefined();
    cache.put(
      [
        [rowKey('a'), [0.25, 0.75]],
        [rowKey('b'), [1, 0]],
      ],
      'probabilities',
    );
    expect(cache.get(rowKey('a'))).toEqual([0.25, 0.75]);

    // the identity rebuilt field by field, in another key order and with a copied class list
    const again = AnswerCache.open(dir, { classes: ['cat', 'dog'], kind: 'auto', teacher: identity.teacher });
    expect(again.folder).toBe(cache.folder);
    expect(again.size).toBe(2);
    expect(again.kind).toBe('probabilities');
    expect(again.get(rowKey('a'))).toEqual([0.25, 0.75]);
    expect(again.get(rowKey('b'))).toEqual([1, 0]);
    expect(again.get(rowKey('c'))).toBeUndefined();
    expect(again.has(rowKey('b'))).toBe(true);
  });

  test('another identity never sees them: another teacher, kind or class list is another folder', () => {
    const dir = tempDir('cache-identity');
    const cache = AnswerCache.open(dir, identity);
    cache.put([[rowKey('a'), [0.5, 0.5]]], 'probabilities');
    const others: CacheIdentity[] = [
      { ...identity, teacher: 'module:./teacher.js#other' },
      { ...identity, kind: 'logits' },
      { ...identity, classes: ['dog', 'cat'] },
      { ...identity, classes: ['cat', 'dog', 'bird'] },
    ];
    const folders = new Set([cache.folder]);
    for (const other of others) {
      const opened = AnswerCache.open(dir, other);
      expect(opened.size).toBe(0);
      expect(opened.get(rowKey('a'))).toBeUndefined();
      folders.add(opened.folder);
    }
    expect(folders.size).toBe(others.length + 1);
  });

  test('put writes one new chunk through writeFileAtomic, never rewrites an old one, and leaves no temporary file', () => {
    const dir = tempDir('cache-chunks');
    const atomic = jest.spyOn(files, 'writeFileAtomic');
    try {
      const cache = AnswerCache.open(dir, { ...identity, kind: 'labels' });
      expect(cache.kind).toBe('labels'); // declared: known before any answer
      cache.put([[rowKey('a'), 1]]);
      const chunks = path.join(cache.folder, 'chunks');
      const [first] = fs.readdirSync(chunks);
      expect(first).toMatch(/^0-[0-9a-f]+\.json$/);
      const firstFile = path.join(chunks, first ?? '');
      const before = fs.readFileSync(firstFile, 'utf8');
      expect(JSON.parse(before)).toEqual({ kind: 'labels', classes: ['cat', 'dog'], entries: [[rowKey('a'), 1]] });

      cache.put([]); // nothing to write
      cache.put([
        [rowKey('b'), 0],
        [rowKey('a'), 0],
      ]);
      expect(atomic.mock.calls.map(([file]) => path.relative(cache.folder, file))).toEqual([
        'identity.json',
        path.join('chunks', first ?? ''),
        expect.stringMatching(/^chunks[/\\]1-[0-9a-f]+\.json$/) as string,
      ]);
      expect(fs.readFileSync(firstFile, 'utf8')).toBe(before);
      expect(listFiles(cache.folder).filter((name) => path.basename(name).startsWith('.tmp'))).toEqual([]);
      expect(listFiles(cache.folder)).toHaveLength(3);
      expect(cache.get(rowKey('a'))).toBe(0); // the later answer wins

      // reopened: chunks are read in order, and the next one is numbered after them
      const again = AnswerCache.open(dir, { ...identity, kind: 'labels' });
      expect([again.get(rowKey('a')), again.get(rowKey('b'))]).toEqual([0, 0]);
      again.put([[rowKey('c'), 1]]);
      expect(fs.readdirSync(chunks).filter((name) => name.startsWith('2-'))).toHaveLength(1);
    } finally {
      atomic.mockRestore();
    }
  });

  test('a leftover temporary file from a crashed write is ignored', () => {
    const dir = tempDir('cache-crash');
    const cache = AnswerCache.open(dir, identity);
    cache.put([[rowKey('a'), [0.5, 0.5]]], 'probabilities');
    fs.writeFileSync(path.join(cache.folder, 'chunks', '.tmp-123-1-abcd.json'), '{"kind": "probab');
    expect(AnswerCache.open(dir, identity).size).toBe(1);
  });

  test('a corrupt chunk file is an AnswerCacheError naming the file', () => {
    const dir = tempDir('cache-corrupt');
    const cache = AnswerCache.open(dir, identity);
    cache.put([[rowKey('a'), [0.5, 0.5]]], 'probabilities');
    const file = path.join(cache.folder, 'chunks', '1-deadbeef.json');
    fs.writeFileSync(file, '{"kind": "probabilities", "entr');
    expect(() => AnswerCache.open(dir, identity)).toThrow(AnswerCacheError);
    expect(() => AnswerCache.open(dir, identity)).toThrow(
      new RegExp(`^the teacher's answer cache file ${escape(file)} cannot be read as JSON \\(.+\\); delete its folder`),
    );
    try {
      AnswerCache.open(dir, identity);
    } catch (error) {
      expect(error).toMatchObject({ name: 'AnswerCacheError', file });
    }

    // valid JSON of the wrong shape, too
    fs.writeFileSync(file, JSON.stringify({ kind: 'probabilities', classes: ['cat', 'dog'], entries: [['k', 'x']] }));
    expect(() => AnswerCache.open(dir, identity)).toThrow(
      `answer cache file ${file} is not a cache file of this version at entries.0.1`,
    );
  });

  test('a chunk of another kind than the first, or of other classes, is an error naming it', () => {
    const dir = tempDir('cache-kinds');
    const cache = AnswerCache.open(dir, identity);
    cache.put([[rowKey('a'), [0.5, 0.5]]], 'probabilities');
    const file = path.join(cache.folder, 'chunks', '5-00.json');
    fs.writeFileSync(file, JSON.stringify({ kind: 'logits', classes: ['cat', 'dog'], entries: [] }));
    expect(() => AnswerCache.open(dir, identity)).toThrow(`${file} holds logits, but this cache holds probabilities`);
    fs.writeFileSync(file, JSON.stringify({ kind: 'probabilities', classes: ['dog', 'cat'], entries: [] }));
    expect(() => AnswerCache.open(dir, identity)).toThrow(`${file} lists other classes`);
  });

  test('an identity.json that does not match its folder is an error, not a reuse of its answers', () => {
    const dir = tempDir('cache-tampered');
    const cache = AnswerCache.open(dir, identity);
    const file = path.join(cache.folder, 'identity.json');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(stored).toEqual({ format: 1, teacher: identity.teacher, kind: 'auto', classes: ['cat', 'dog'] });
    fs.writeFileSync(file, JSON.stringify({ ...stored, teacher: 'someone else' }));
    expect(() => AnswerCache.open(dir, identity)).toThrow(`${file} belongs to another teacher`);
  });

  test('put refuses answers it could not read back, and a kind that disagrees', () => {
    const cache = AnswerCache.open(tempDir('cache-put'), identity);
    expect(() => cache.put([[rowKey('a'), [0.5, 0.5]]])).toThrow('kind: expected the kind of the answers');
    expect(() => cache.put([[rowKey('a'), [Number.NaN, 1]]], 'logits')).toThrow(
      'entries[0][1]: expected a finite number or an array of finite numbers, received an array of length 2',
    );
    expect(() => cache.put([['row-1', 1]], 'labels')).toThrow('entries[0][0]: expected a row key');
    expect(cache.size).toBe(0);
    expect(fs.existsSync(path.join(cache.folder, 'chunks'))).toBe(false);

    cache.put([[rowKey('a'), [2, -1]]], 'logits');
    expect(() => cache.put([[rowKey('b'), [0.5, 0.5]]], 'probabilities')).toThrow(
      'kind: expected logits, the kind the cache holds, received probabilities',
    );
    cache.put([[rowKey('b'), [0, 3]]]); // the held kind
    expect(cache.size).toBe(2);
  });
});

/** `text` as a literal part of a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
