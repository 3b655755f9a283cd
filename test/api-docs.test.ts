/**
 * The API reference (`npm run docs`, TypeDoc over typedoc.json) builds with no warning: every exported symbol of
 * `distillery`, `distillery/runtime` and `distillery/web` has a doc comment, and no link or referenced type dangles. The second test
 * shows that the check is not vacuous: the same validation options on a scratch project with one undocumented export
 * report it. Both run scripts/api-docs.mjs (TypeDoc's programmatic API, nothing written) in a child process, since
 * TypeDoc is an ES module.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './support/tiny';

const ROOT = path.resolve(__dirname, '..');
const SCRIPT = path.join(ROOT, 'scripts', 'api-docs.mjs');

interface Check {
  status: number | null;
  output: string;
  summary: { errors: number; warnings: number };
}

function check(options: string): Check {
  const result = spawnSync(process.execPath, [SCRIPT, '--options', options], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  const lines = result.stdout.trim().split('\n');
  const output = result.stdout + result.stderr;
  const summary = JSON.parse(lines[lines.length - 1] ?? '{}') as Check['summary'];
  return { status: result.status, output, summary };
}

test('typedoc.json builds the reference of both entry points with no error and no warning', () => {
  const result = check(path.join(ROOT, 'typedoc.json'));
  expect(result.output).not.toMatch(/\[(warning|error)\]/);
  expect(result.summary).toEqual({ errors: 0, warnings: 0 });
  expect(result.status).toBe(0);
});

test('an exported symbol without a doc comment fails the check', () => {
  const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
  const dir = tempDir('api-docs');
  try {
    fs.writeFileSync(
      path.join(dir, 'index.ts'),
      '/** A documented function. */\nexport function documented(): number {\n  return 1;\n}\n' +
        'export function undocumented(): number {\n  return 2;\n}\n',
    );
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'Node16', lib: ['ES2022'], strict: true, types: [] },
        files: ['index.ts'],
      }),
    );
    // The real validation options; only what to read changes (the plugin too, as a path from here).
    const scratch = {
      ...config,
      entryPoints: ['index.ts'],
      tsconfig: 'tsconfig.json',
      plugin: (config.plugin as string[]).map((plugin) => path.resolve(ROOT, plugin)),
      intentionallyNotExported: [],
    };
    fs.writeFileSync(path.join(dir, 'typedoc.json'), JSON.stringify(scratch));
    const result = check(path.join(dir, 'typedoc.json'));
    expect(result.output).toMatch(/\bundocumented \(\w+\), defined in .* does not have any documentation/);
    expect(result.output).not.toMatch(/\bdocumented \(\w+\)/);
    expect(result.summary.warnings).toBe(1);
    expect(result.status).toBe(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
