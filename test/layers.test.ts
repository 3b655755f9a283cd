/**
 * The layer rules of .dependency-cruiser.cjs fire when broken. `npm run lint:layers` proves src/ clean; this proves
 * the rules are not vacuous: a scratch tree with one violation of each rule, checked by the real config and the real
 * dependency-cruiser CLI, must report every rule, each at the file that breaks it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './support/tiny';

const ROOT = path.resolve(__dirname, '..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const config = require(CONFIG) as { forbidden: { name: string }[] };
const LAYERS = [
  'core',
  'config',
  'preprocess',
  'runtime',
  'web',
  'eval',
  'io',
  'engine',
  'data',
  'teacher',
  'facade',
  'experiment',
  'serve',
  'cli',
];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Every layer gets a leaf; each layer but the top one imports the leaf of the layer above it. */
function layerFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  LAYERS.forEach((layer, index) => {
    files[`src/${layer}/leaf.ts`] = 'export const leaf = 1;\n';
    const above = LAYERS[index + 1];
    if (above) files[`src/${layer}/up.ts`] = `export { leaf } from '../${above}/leaf';\n`;
  });
  return files;
}

/** One violation of every other rule, named by the file that commits it. */
const VIOLATIONS: Record<string, { file: string; source: string }> = {
  'no-circular': {
    file: 'src/config/circle-a.ts',
    source: "import type { B } from './circle-b';\nexport type A = { b?: B };\n",
  },
  'no-import-of-entry-points': { file: 'src/cli/entry.ts', source: "export * from '../index';\n" },
  'runtime-and-preprocess-stay-python-free': {
    file: 'src/runtime/writes.ts',
    source: "export { leaf } from '../io/leaf';\n",
  },
  'runtime-entry-never-reaches-python': {
    file: 'src/runtime/index.ts',
    source: "export { reach } from '../eval/reach';\n",
  },
  'web-entry-is-browser-safe': {
    file: 'src/web/index.ts',
    source: "export { readFileSync } from 'node:fs';\n",
  },
  'web-packages': { file: 'src/web/package.ts', source: "export { Command } from 'commander';\n" },
  'runtime-and-preprocess-packages': {
    file: 'src/preprocess/package.ts',
    source: "export { Command } from 'commander';\n",
  },
  'pythonia-only-in-the-engine': { file: 'src/data/python.ts', source: "export { python } from 'pythonia';\n" },
  'src-never-imports-tests': { file: 'src/cli/tests.ts', source: "export { helper } from '../../test/helper';\n" },
  'src-never-imports-dev-dependencies': { file: 'src/cli/dev.ts', source: "export { default as Ajv } from 'ajv';\n" },
  'no-unresolvable': { file: 'src/cli/missing.ts', source: "export { nothing } from './nowhere';\n" },
};

const SUPPORT: Record<string, string> = {
  'src/config/circle-b.ts': "import type { A } from './circle-a';\nexport type B = { a?: A };\n",
  'src/index.ts': "export { leaf } from './core/leaf';\n",
  // Reaches the engine through eval (itself a layer violation, reported as layer-eval).
  'src/eval/reach.ts': "export { leaf as reach } from '../engine/leaf';\n",
  'test/helper.ts': 'export const helper = 1;\n',
  // A downward import, which no rule may flag.
  'src/data/down.ts': "export { leaf } from '../io/leaf';\n",
};

function scratchTree(): string {
  const dir = tempDir('layers');
  const files = {
    ...layerFiles(),
    ...SUPPORT,
    ...Object.fromEntries(Object.values(VIOLATIONS).map(({ file, source }) => [file, source])),
  };
  for (const [file, source] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), source);
  }
  // The real package.json (dependencies vs devDependencies), tsconfig.json and installed packages.
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

const CLI = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** `depcruise src` as `npm run lint:layers` runs it: its exit status (the json reporter always exits 0). */
function lintStatus(cwd: string): number | null {
  return spawnSync(process.execPath, [CLI, 'src', '--config', CONFIG], { cwd, encoding: 'utf8' }).status;
}

function violations(cwd: string): Violation[] {
  const result = spawnSync(process.execPath, [CLI, 'src', '--config', CONFIG, '--output-type', 'json'], {
    cwd,
    encoding: 'utf8',
  });
  if (!result.stdout) throw new Error(`dependency-cruiser printed nothing: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('layer rules (.dependency-cruiser.cjs)', () => {
  let dir: string;
  let found: Violation[];
  beforeAll(() => {
    dir = scratchTree();
    found = violations(dir);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a tree that breaks the rules fails the check (non-zero exit)', () => {
    expect(lintStatus(dir)).not.toBe(0);
  });

  test('every rule of the config fires, none goes unproven', () => {
    const fired = new Set(found.map((violation) => violation.rule.name));
    expect([...fired].sort()).toEqual(config.forbidden.map((rule) => rule.name).sort());
  });

  test.each(LAYERS.slice(0, -1))('layer-%s: an import of the layer above it', (layer) => {
    const upward = found
      .filter((violation) => violation.rule.name === `layer-${layer}`)
      .map((violation) => violation.from);
    expect(upward).toContain(`src/${layer}/up.ts`);
  });

  test.each(Object.entries(VIOLATIONS))('%s: reported at the file that breaks it', (rule, { file }) => {
    const at = found.filter((violation) => violation.rule.name === rule).map((violation) => violation.from);
    expect(at).toContain(file);
  });

  test('a layer may import the layers below it', () => {
    expect(found.filter((violation) => violation.from === 'src/data/down.ts')).toEqual([]);
  });
});
