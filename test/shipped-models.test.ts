import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { ROOT, tempDir } from './support/tiny';

const MODELS = path.join(ROOT, 'models');

describe('the pretrained models shipped in models/', () => {
  test('fit in 10 MB, and each card matches its file', () => {
    const files = fs.readdirSync(MODELS);
    expect(files).toEqual(
      expect.arrayContaining([
        'mnist-teacher.onnx',
        'mnist-teacher.json',
        'mnist-student.onnx',
        'mnist-student.json',
        'mnist-heldout.npz',
      ]),
    );
    const total = files.reduce((sum, file) => sum + fs.statSync(path.join(MODELS, file)).size, 0);
    expect(total).toBeLessThanOrEqual(10 * 2 ** 20);
    for (const name of ['mnist-teacher', 'mnist-student']) {
      const card = JSON.parse(fs.readFileSync(path.join(MODELS, `${name}.json`), 'utf8'));
      const bytes = fs.readFileSync(path.join(MODELS, card.file));
      expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(card.sha256);
      expect(card.heldout.n).toBe(2000);
      expect(card.rebuild).toContain('examples/shipped-models.json');
    }
  });

  test("a TypeScript script importing only distillery/runtime predicts and reproduces the card's accuracy with no Python on PATH", () => {
    // Compile the example as a user would, into a folder inside the package so `distillery/runtime` resolves to it.
    const source = fs.readFileSync(path.join(ROOT, 'examples', 'predict-digit.ts'), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const folder = path.join(ROOT, 'runs', '.example-test');
    fs.mkdirSync(folder, { recursive: true });
    const script = path.join(folder, 'predict-digit.js');
    fs.writeFileSync(script, outputText);
    // A PATH that holds node and nothing else: no python3, no python.
    const bin = tempDir('node-only-path');
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const env = { PATH: bin, HOME: process.env.HOME ?? '/tmp' };
    expect(spawnSync('python3', ['--version'], { env }).error).toBeDefined();
    const result = spawnSync('node', [script], { env, encoding: 'utf8', cwd: folder });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/first held-out digit: predicted \d \(\d+\.\d%\), true \d/);
    const card = JSON.parse(fs.readFileSync(path.join(MODELS, 'mnist-student.json'), 'utf8')) as {
      heldout: { accuracy: number; errors: number };
    };
    expect(result.stdout).toContain(
      `held-out accuracy ${(100 * card.heldout.accuracy).toFixed(2)}% (${card.heldout.errors} errors of 2000)`,
    );
  });
});
