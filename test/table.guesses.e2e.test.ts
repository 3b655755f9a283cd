/**
 * No silent guesses when reading a table, end to end through `distillery run` (issue 26, docs/ERRORS.md 250-254):
 * each bad file stops the run before training with the message naming file, line and option (exit 1); a run
 * whose table has a column of nearly one value per row prints a warning, and report.json and report.md carry it;
 * the same run reads a Windows-1252 file, a `NaN` cell and an `NA` marker as declared.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, ROOT, tempDir, writeJson } from './support/tiny';

const quick = { epochs: 2, batchSize: 16, optimizer: { type: 'adam', lr: 0.01 } } as const;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** 48 rows: x1 a number (or `cell(i)`), a city, an id, the label. */
function rows(cell: (row: number) => string | null = () => null): string {
  const cities = ['oslo', 'bergen', 'rød'];
  const lines = ['x1,city,id,label'];
  for (let i = 0; i < 48; i++) {
    lines.push(
      `${cell(i) ?? ((i % 7) - 3).toFixed(1)},${cities[i % 3] ?? ''},u${1000 + i},${(i % 7) - 3 > 0 ? 'up' : 'down'}`,
    );
  }
  return lines.join('\n') + '\n';
}

const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');

function experiment(folder: string, file: string, source: Record<string, unknown> = {}): string {
  return writeJson(path.join(folder, 'experiment.json'), {
    name: 'guesses',
    seed: 0,
    device: 'cpu',
    data: {
      train: { type: 'csv', path: file, label: 'label', ...source },
      test: { type: 'csv', path: file, ...('encoding' in source ? { encoding: source.encoding } : {}) },
    },
    teacher: { type: 'train', model: { type: 'mlp', hidden: [16] }, training: quick },
    students: [
      {
        name: 'soft',
        model: { type: 'mlp', hidden: [8] },
        method: { type: 'soft-targets', temperature: 2 },
        training: quick,
      },
    ],
  });
}

function failedRun(name: string, content: string | Uint8Array, source: Record<string, unknown> = {}) {
  const folder = tempDir('guesses-e2e');
  const file = path.join(folder, name);
  fs.writeFileSync(file, content);
  const result = cli(['run', experiment(folder, file, source), '--out', path.join(folder, 'out')]);
  expect(result.status).toBe(1);
  expect(fs.existsSync(path.join(folder, 'out', 'report.json'))).toBe(false);
  return { file, stderr: result.stderr };
}

describe('distillery run on a table it must not guess at', () => {
  test('250: one Infinity in a numeric column stops the run, naming the cell, its line and missing.nonFinite', () => {
    const { file, stderr } = failedRun(
      'inf.csv',
      rows((i) => (i === 10 ? 'Infinity' : null)),
    );
    expect(stderr).toContain(
      `dataset ${file}: column "x1" is numeric, but holds non-finite numbers: "Infinity" (line 12); read them as missing values with data.train.missing.nonFinite: 'missing', or correct the cells`,
    );
  });

  test('251: a few cells that are not numbers stop the run, naming them and the options', () => {
    const { stderr } = failedRun(
      'marks.csv',
      rows((i) => (i === 5 ? '?' : null)),
    );
    expect(stderr).toMatch(
      /column "x1" holds numbers but for 1 of its 48 non-empty cells: "\?" \(line 7\); if they mean missing values, list them in data\.train\.missing\.markers; if the column is categorical, declare it with data\.train\.columns\.x1: 'categorical'/,
    );
  });

  test('253: a Latin-1 file read as UTF-8 stops the run, naming its line and the encoding option', () => {
    const { file, stderr } = failedRun('latin1.csv', latin1(rows()));
    expect(stderr).toContain(
      `dataset ${file}:4: not valid UTF-8: byte 0xF8 is not UTF-8; if the file is Latin-1 or Windows-1252 (as older Excel exports are), set data.train.encoding: 'windows-1252'`,
    );
  });

  test('254: a header separated by ";" stops the run, naming the delimiter option', () => {
    const { file, stderr } = failedRun('semicolon.csv', rows().replace(/,/g, ';'));
    expect(stderr).toContain(
      `dataset ${file}:1: the header reads as one column, "x1;city;id;label", which looks separated by ";" while the file is read as separated by commas: set data.train.delimiter: ";"`,
    );
  });

  test('252: a column of nearly one value per row: a warning in the output, report.json and report.md; the declared options read the rest', () => {
    const folder = tempDir('guesses-e2e');
    const file = path.join(folder, 'cities.csv');
    fs.writeFileSync(file, latin1(rows((i) => (i === 3 ? 'NaN' : i === 8 ? 'NA' : null))));
    const outDir = path.join(folder, 'out');
    const source = { encoding: 'windows-1252', missing: { markers: ['NA'], nonFinite: 'missing' } };
    const result = cli(['run', experiment(folder, file, source), '--out', outDir]);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.status).toBe(0);
    const warning = `data.train: column "id" has 48 distinct values in its 48 non-empty cells, nearly one per row (an id, a timestamp or free text?): one-hot categories of it cannot generalise to new rows; leave it out with data.train.features, or declare it with data.train.columns.id: 'categorical' to keep it`;
    expect(result.stderr).toContain(`warning: ${warning}`);
    const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as {
      warnings: { kind: string; message: string }[];
      data: { rows: Record<string, number> };
    };
    expect(report.warnings).toContainEqual({ kind: 'data', message: warning });
    expect(report.data.rows).toEqual({ train: 48, test: 48 });
    expect(fs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toContain(`**Warning:** ${warning}`);
    const resolved = fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8');
    expect(resolved).toContain('"rød"'); // the category, decoded from Windows-1252
  });
});
