/**
 * The package as a user gets it: `npm pack`, then `npm install <tarball>` into an empty project, where
 *   (a) `npx distillery run` trains a tiny experiment,
 *   (b) the README's TypeScript example (trimmed to 1 epoch on a slice of MNIST) compiles against the
 *       installed package's types and runs,
 *   (c) `distillery/web` resolves to the package's ES module and a bundler builds it for the browser, no shims,
 *   (d) and node_modules/distillery is left exactly as npm installed it (no __pycache__, venv, cache).
 * The engine's Python environment is the one of this test run (same DISTILLERY_HOME, same
 * requirements.txt: nothing is rebuilt), found by the real resolution path: DISTILLERY_PYTHON is unset.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distilleryHome } from '../src/io/home';
import { ROOT, tempDir, writeJson } from './support/tiny';

const MAX_TARBALL_BYTES = 10 * 1024 * 1024;
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const tinyData = {
  train: { type: 'mnist', split: 'train', limit: 400 },
  test: { type: 'mnist', split: 'test', limit: 100 },
};

/** The environment of every command here: the test run's own, less DISTILLERY_PYTHON (the cached environment must be found). */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  delete env.DISTILLERY_PYTHON;
  // This machine sets PYTHONDONTWRITEBYTECODE; a user's usually does not, and then Python writes byte-code
  // next to what it imports unless told otherwise. Unset, so (c) checks that nothing lands in the package.
  delete env.PYTHONDONTWRITEBYTECODE;
  delete env.PYTHONPYCACHEPREFIX;
  delete env.DISTILLERY_CACHE_DIR;
  // jest's own settings must not leak into the user's node
  delete env.NODE_OPTIONS;
  return env;
}

function runIn(cwd: string, command: string, args: string[], timeoutMs = 300_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, {
    cwd,
    env: userEnv(),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` in ${cwd} failed (${result.error?.message ?? `exit ${String(result.status)}, ${result.signal ?? ''}`}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** sha256 of every file under `dir`, by relative path (folders too, so an empty new one shows). */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, full);
    files.set(
      relative,
      entry.isFile()
        ? crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex')
        : entry.isDirectory()
          ? 'dir'
          : 'other',
    );
  }
  return files;
}

function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [file, hash] of after)
    if (before.get(file) !== hash) changed.push(before.has(file) ? `modified ${file}` : `added ${file}`);
  for (const file of before.keys()) if (!after.has(file)) changed.push(`removed ${file}`);
  return changed;
}

/** The README's TypeScript example (every ```ts block, as readme.test.ts reads them). */
function readmeExample(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
  expect(blocks.length).toBeGreaterThanOrEqual(1);
  return blocks.join('\n');
}

/**
 * The example at test size: 1 epoch for the teacher and the student, on a slice of the embedded MNIST.
 * Each edit must apply: if the README's example changes shape, this says which edit to update.
 */
function trimmed(example: string): string {
  let source = example;
  const edit = (pattern: RegExp, replacement: string): void => {
    if (!pattern.test(source))
      throw new Error(
        `the README example no longer contains ${String(pattern)}: update trimmed() in test/install.test.ts`,
      );
    source = source.replace(pattern, replacement);
  };
  edit(/outDir: 'runs\/mine',/g, `outDir: 'runs/mine', data: ${JSON.stringify(tinyData)},`);
  edit(/epochs: \d+/g, 'epochs: 1');
  edit(/student: \{/, 'student: { training: { epochs: 1 },');
  return source;
}

describe('the packed package, installed into an empty project', () => {
  const work = tempDir('install');
  const project = path.join(work, 'project');
  const installed = path.join(project, 'node_modules', 'distillery');
  let files: string[] = [];
  let tarballBytes = 0;
  let before = new Map<string, string>();

  beforeAll(() => {
    const packed = JSON.parse(runIn(ROOT, npm, ['pack', '--json', '--pack-destination', work]).stdout) as {
      filename: string;
      size: number;
      files: { path: string }[];
    }[];
    const tarball = path.join(work, packed[0]!.filename);
    tarballBytes = fs.statSync(tarball).size;
    files = packed[0]!.files.map((file) => file.path);
    fs.mkdirSync(project);
    writeJson(path.join(project, 'package.json'), { name: 'consumer', version: '1.0.0', private: true });
    runIn(project, npm, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund']);
    before = snapshot(installed);
  }, 600_000);

  const pycache = path.join(distilleryHome(userEnv()), 'pycache');
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(path.join(pycache, work), { recursive: true, force: true });
  });

  test('the tarball holds the built library, the engine and the models — no tests, sources or benchmarks', () => {
    expect(tarballBytes).toBeLessThanOrEqual(MAX_TARBALL_BYTES);
    for (const needed of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/runtime/index.js',
      'dist/cli/main.js',
      'dist/engine/environment.js',
      'bin/distillery.js',
      'python/distillery/__init__.py',
      'python/distillery/methods/contract.json',
      'python/distillery/methods/dist.py',
      'python/distillery_bridge.py',
      'requirements.txt',
      'README.md',
      'models/mnist-student.onnx',
      'examples/demo.json',
    ]) {
      expect(files).toContain(needed);
    }
    const unwanted = files.filter((file) =>
      /^(test|bench|src|scripts|python\/tests|docs)\/|fixtures|__pycache__|\.pyc$|\.map$|^\.venv|^node_modules\//.test(
        file,
      ),
    );
    expect(unwanted).toEqual([]);
  });

  test('`npx distillery run` trains a tiny experiment and writes its report', () => {
    const experiment = writeJson(path.join(project, 'tiny.json'), {
      name: 'tiny',
      seed: 0,
      device: 'cpu',
      data: tinyData,
      teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, training: { epochs: 1, batchSize: 32 } },
      students: [
        {
          name: 'soft',
          model: { type: 'mlp', hidden: [16] },
          method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
          training: { epochs: 1, batchSize: 32 },
        },
      ],
      evaluate: { benchmark: false },
    });
    runIn(project, npx, ['--no', 'distillery', 'run', experiment, '--out', 'runs/tiny']);
    const report = JSON.parse(fs.readFileSync(path.join(project, 'runs', 'tiny', 'report.json'), 'utf8')) as {
      teacher: { name: string };
      students: { name: string; verdict?: { baseline: string } }[];
    };
    // the distilled student and, for its verdict, the same MLP trained on the labels (evaluate.baselines)
    expect([report.teacher.name, ...report.students.map((student) => student.name)]).toEqual([
      'teacher',
      'soft',
      'soft-labels',
    ]);
    expect(report.students[0]!.verdict!.baseline).toBe('soft-labels');
    expect(fs.existsSync(path.join(project, 'runs', 'tiny', 'soft.onnx'))).toBe(true);
  }, 600_000);

  test("the README's TypeScript example compiles against the installed types and runs", () => {
    fs.writeFileSync(path.join(project, 'example.ts'), trimmed(readmeExample()));
    writeJson(path.join(project, 'tsconfig.json'), {
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'Node16',
        moduleResolution: 'Node16',
        esModuleInterop: true,
        skipLibCheck: true,
        // a Node project has @types/node; this one borrows the repository's
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      },
      files: ['example.ts'],
    });
    runIn(project, process.execPath, [TSC, '-p', 'tsconfig.json']);
    const output = runIn(project, process.execPath, ['example.js']).stdout.trim().split('\n');
    expect(fs.existsSync(path.join(project, 'runs', 'mine', 'small.onnx'))).toBe(true);
    // its last line is the service's prediction: a digit label and its probability
    const [label, probability] = output[output.length - 1]!.split(' ');
    expect(label).toMatch(/^\d$/);
    expect(Number(probability)).toBeGreaterThan(0);
    expect(Number(probability)).toBeLessThanOrEqual(1);
  }, 600_000);

  test('`distillery/web` resolves to the ES module, and esbuild bundles it for the browser with no Node built-in', async () => {
    fs.writeFileSync(
      path.join(project, 'page.ts'),
      "import { OnnxModel } from 'distillery/web';\nexport const load = (url: string) => OnnxModel.load(url);\n",
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const esbuild = require('esbuild') as typeof import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(project, 'page.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser', // a Node built-in anywhere in the graph fails the build
      // onnxruntime-web is an optional peer: the page's project installs it; it is not in this one
      external: ['onnxruntime-web', 'onnxruntime-web/*'],
      absWorkingDir: project,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('node_modules/distillery/dist/web/index.mjs');
    expect(inputs.filter((input) => /sharp|onnxruntime-node|piscina|pythonia/.test(input))).toEqual([]);
  });

  test('node_modules/distillery is left exactly as installed: no byte-code, environment or cache in it', () => {
    expect(before.size).toBeGreaterThan(50);
    expect(changes(before, snapshot(installed))).toEqual([]);
    // Python did write byte-code for the installed engine: under the Distillery home
    expect(fs.readdirSync(path.join(pycache, installed, 'python', 'distillery'))).toContainEqual(
      expect.stringMatching(/^api\..*\.pyc$/),
    );
  });
});
