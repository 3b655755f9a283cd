/**
 * The `distillery` command line: run, eval, bench, predict, quantize, setup, doctor, schema.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, experimentJsonSchema, loadExperimentFile } from '../config';
import { configReferenceMarkdown } from '../config/reference';
import { Engine, EngineAbortError, EngineError, PACKAGE_ROOT, PythonError, distilleryHome, environmentDir, resolveInterpreter, type DoctorResult, type EngineEvent } from '../engine';
import type { Commands } from '../engine/commands';
import { npyBytes } from '../facade/arrays';
import { writeFileAtomic } from '../experiment/files';
import { REQUIREMENTS_FILE, pythonProcessEnv } from '../engine/environment';
import { joinDistributedRun, plainTable, run, runSeeds, seedsMarkdown, tableRows, verifyRun } from '../experiment';
import { OnnxModel, benchmark, evaluate, loadDataset, agreement, type Dataset, type ModelInput } from '../runtime';
import { progressReporter } from './progress';
import { imageDataset, imageFiles } from '../data/images';
import { readTableFile, tableDataset } from '../data/table';

/** Exit codes: 0 done, 1 failed, 2 bad usage or config, 130 interrupted (Ctrl-C). */
const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
const err = (text: string): void => {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
};

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
}

function positive(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function device(value: string): string {
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(value)) throw new InvalidArgumentError('expected auto, cpu, cuda or cuda:N');
  return value;
}

/**
 * The engine's Python environment is made on first use (progress on stderr), so `npx distillery run`
 * works right after `npm install`; DISTILLERY_PYTHON is used as is.
 */
async function ensurePython(): Promise<string> {
  return resolveInterpreter();
}

/** Ctrl-C: the first aborts cleanly (Python stops between batches); a second one forces the exit. */
function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let presses = 0;
  const onSigint = (): void => {
    presses += 1;
    if (presses === 1) {
      err('\nstopping after the current batch… (Ctrl-C again to force)');
      controller.abort();
    } else {
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535) throw new InvalidArgumentError('expected a port 1-65535');
  return parsed;
}

interface RunFlags {
  out?: string;
  device?: string;
  seed?: number;
  seeds?: number[];
  json?: boolean;
  resume?: boolean;
  overwrite?: boolean;
  nprocPerNode?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

async function runCommand(file: string, options: RunFlags): Promise<number> {
  const experiment = loadExperimentFile(file);
  await ensurePython(); // before the progress bars start
  const outDir = path.resolve(options.out ?? path.join('runs', experiment.name));
  const distributed = {
    nprocPerNode: options.nprocPerNode,
    nnodes: options.nnodes,
    nodeRank: options.nodeRank,
    masterAddr: options.masterAddr,
    masterPort: options.masterPort,
  };
  const reporter = progressReporter();
  const interrupt = interruptible();
  const command = ['distillery', 'run', ...process.argv.slice(3)].join(' ');
  try {
    const nodeRank = options.nodeRank ?? experiment.distributed?.nodeRank ?? 0;
    if (nodeRank > 0) {
      reporter.note(`distillery run ${file}: node ${nodeRank} — its ranks join the job; node 0 writes ${outDir}`);
      const common = { outDir, baseDir: path.dirname(path.resolve(file)), device: options.device, seed: options.seed, resume: options.resume };
      await joinDistributedRun(experiment, { ...common, distributed, signal: interrupt.signal });
      reporter.stop();
      err(`node ${nodeRank}: its ranks finished; the report is written by node 0`);
      return EXIT.ok;
    }
    reporter.note(`distillery run ${path.relative(process.cwd(), path.resolve(file)) || file} → ${outDir}`);
    const runOptions = {
      outDir,
      baseDir: path.dirname(path.resolve(file)),
      device: options.device,
      seed: options.seed,
      resume: options.resume,
      overwrite: options.overwrite,
      distributed,
      signal: interrupt.signal,
      command,
      onEvent: (event: EngineEvent) => reporter.onEvent(event),
      onStage: (stage: 'evaluating' | 'reporting') =>
        reporter.note(stage === 'evaluating' ? 'evaluating the ONNX models with onnxruntime-node…' : 'writing the report…'),
    };
    if (options.seeds) {
      if (options.seed !== undefined) throw new ConfigError([{ path: '--seeds', message: 'give --seed or --seeds, not both' }]);
      const summary = await runSeeds(experiment, options.seeds, runOptions);
      reporter.stop();
      if (options.json) out(JSON.stringify(summary, null, 2));
      else out(`\n${seedsMarkdown(summary, command)}\nsummary: ${path.join(outDir, 'seeds.md')}`);
      return EXIT.ok;
    }
    const report = await run(experiment, runOptions);
    reporter.stop();
    if (options.json) {
      out(JSON.stringify(report, null, 2));
    } else {
      err('');
      out(plainTable(tableRows(report)));
      out(`\nreport: ${path.join(outDir, 'report.md')}`);
    }
    return EXIT.ok;
  } catch (error) {
    reporter.stop();
    if (error instanceof EngineAbortError) {
      err(`interrupted: finished models are kept in ${outDir}; continue with \`distillery run ${file} --out ${outDir} --resume\``);
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    interrupt.dispose();
  }
}

async function withModel<T>(file: string, work: (model: OnnxModel) => Promise<T>): Promise<T> {
  const model = await OnnxModel.load(file);
  try {
    return await work(model);
  } finally {
    await model.close();
  }
}

const TABLE_FILE = /\.(csv|tsv|jsonl)(\.gz)?$/i;

/** The evaluation data: an .npz as it is, or a table / image folder encoded by the model's own preprocessing. */
async function evaluationData(model: OnnxModel, data: string): Promise<Dataset> {
  const spec = model.info.preprocess;
  if (spec?.kind === 'table' && TABLE_FILE.test(data)) return tableDataset(data, spec, model.info.labels, model.info.task);
  if (spec?.kind === 'image' && isDirectoryOrIndex(data)) return imageDataset(data, spec, model.info.labels);
  return loadDataset(data);
}

function isDirectoryOrIndex(file: string): boolean {
  return (fs.existsSync(file) && fs.statSync(file).isDirectory()) || /\.csv$/i.test(file);
}

async function evalCommand(file: string, options: { data: string; teacher?: string; json?: boolean; topK?: number }): Promise<number> {
  const result = await withModel(file, async (model) => {
    const dataset = await evaluationData(model, options.data);
    const report = await evaluate(model, dataset, { topK: options.topK });
    const fidelity = options.teacher ? await withModel(options.teacher, (teacher) => agreement(model, teacher, dataset)) : undefined;
    return { ...report, ...(fidelity ? { agreementWithTeacher: fidelity.agreement } : {}) };
  });
  if (options.json) {
    out(JSON.stringify(result, null, 2));
  } else if (result.task === 'classification') {
    out(`${result.model}: accuracy ${(100 * result.accuracy).toFixed(2)}% (${result.errors} errors of ${result.samples}), top-${result.topK.k} ${(100 * result.topK.accuracy).toFixed(2)}%, NLL ${result.nll.toFixed(4)}, ECE ${result.ece.toFixed(4)}`);
    if ('agreementWithTeacher' in result) out(`agreement with the teacher: ${(100 * Number(result.agreementWithTeacher)).toFixed(2)}%`);
  } else {
    out(`${result.model}: RMSE ${result.rmse.toFixed(4)}, MAE ${result.mae.toFixed(4)}, R² ${result.r2.toFixed(4)} on ${result.samples} samples`);
  }
  return EXIT.ok;
}

async function benchCommand(file: string, options: { json?: boolean; batch?: number[] }): Promise<number> {
  const report = await withModel(file, (model) => benchmark(model, options.batch ? { batchSizes: options.batch } : {}));
  if (options.json) {
    out(JSON.stringify(report, null, 2));
    return EXIT.ok;
  }
  out(`${report.model}: batch-1 latency p50 ${report.latency.p50Ms.toFixed(3)} ms, p99 ${report.latency.p99Ms.toFixed(3)} ms`);
  out(plainTable([['batch', 'ms/batch', 'rows/s'], ...report.throughput.map((t) => [String(t.batchSize), t.msPerBatch.toFixed(3), Math.round(t.rowsPerSecond).toString()])]));
  return EXIT.ok;
}

/** The inputs of `predict`: samples from .json/.npy/.npz, raw rows from a table file, encoded images from an image file or folder. */
async function readInputs(file: string, model: OnnxModel): Promise<{ rows: ModelInput[]; sampleShape: readonly number[] | null }> {
  const spec = model.info.preprocess;
  // Only the model's own columns: a labelled file (or one with extra columns) can be scored as it is.
  if (TABLE_FILE.test(file)) return { rows: [...(await readTableFile(file, spec?.kind === 'table' ? spec : undefined))], sampleShape: null };
  if (IMAGE_FILE.test(file) || (fs.existsSync(file) && fs.statSync(file).isDirectory())) {
    const files = await imageFiles(file);
    return { rows: files.map((image) => fs.readFileSync(image)), sampleShape: null };
  }
  if (/\.json$/i.test(file)) {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    const rows: unknown[] = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]) ? value : [value];
    return { rows: rows.map((row) => Float32Array.from(flatten(row))), sampleShape: null };
  }
  const dataset: Dataset = await loadDataset(file);
  const width = dataset.sampleShape.reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  for (let i = 0; i < dataset.size; i++) rows.push(Float32Array.from(dataset.x.subarray(i * width, (i + 1) * width)));
  return { rows, sampleShape: dataset.sampleShape };
}

const IMAGE_FILE = /\.(png|jpe?g|webp)$/i;

async function predictCommand(file: string, input: string, options: { json?: boolean }): Promise<number> {
  const predictions = await withModel(file, async (model) => model.predictBatch((await readInputs(input, model)).rows));
  if (options.json) {
    out(JSON.stringify(predictions, null, 2));
    return EXIT.ok;
  }
  predictions.forEach((prediction, index) => {
    if ('label' in prediction) {
      const confidence = prediction.probabilities[prediction.index] ?? 0;
      out(`${index}: ${prediction.label} (${(100 * confidence).toFixed(1)}%)`);
    } else {
      out(`${index}: ${Array.from(prediction.values, (v) => v.toPrecision(6)).join(', ')}`);
    }
  });
  return EXIT.ok;
}

const QUANTIZATION_METHODS = ['int8-dynamic', 'int8-static', 'fp16'] as const;
type QuantizationMethodName = (typeof QUANTIZATION_METHODS)[number];

function quantizationMethods(value: string): QuantizationMethodName[] {
  const methods = value.split(',').map((method) => method.trim());
  for (const method of methods) {
    if (!(QUANTIZATION_METHODS as readonly string[]).includes(method)) throw new InvalidArgumentError(`expected ${QUANTIZATION_METHODS.join(', ')} (comma-separated), got ${method}`);
  }
  return methods as QuantizationMethodName[];
}

/**
 * `distillery quantize model.onnx --data calib`: int8 / fp16 variants next to the model (python/distillery/quantize.py).
 * Calibration rows are raw inputs: an .npz (x) or .npy as they are; a table file or an image folder is encoded
 * first by the model's recorded preprocessing, like `eval --data`, and handed over as an .npy.
 */
async function quantizeCommand(file: string, options: { data?: string; method?: QuantizationMethodName[]; out?: string; json?: boolean }): Promise<number> {
  const methods = options.method ?? (options.data ? [...QUANTIZATION_METHODS] : ['int8-dynamic', 'fp16']);
  if (options.out && methods.length > 1) throw new ConfigError([{ path: 'out', message: '--out names one file: give one --method with it' }]);
  let data = options.data;
  let scratch: string | null = null;
  if (data !== undefined && !/\.(npz|npy)$/i.test(data)) {
    const dataset = await withModel(file, (model) => evaluationData(model, data as string));
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-calibration-'));
    data = path.join(scratch, 'calibration.npy');
    writeFileAtomic(data, npyBytes(Float32Array.from(dataset.x), [dataset.size, ...dataset.sampleShape]));
  }
  await ensurePython();
  const engine = await Engine.start();
  const results: Commands['quantize']['result'][] = [];
  try {
    for (const method of methods) {
      results.push(await engine.call('quantize', { model: path.resolve(file), method, ...(data ? { data: path.resolve(data) } : {}), ...(options.out ? { path: path.resolve(options.out) } : {}) }));
    }
  } finally {
    await engine.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
  if (options.json) out(JSON.stringify(results, null, 2));
  else {
    out(plainTable([
      ['method', 'file', 'size', '× fp32', 'calibration rows'],
      ...results.map((r) => [r.method, path.relative(process.cwd(), r.path), `${(r.sizeBytes / 2 ** 20).toFixed(2)} MB`, r.sizeRatio.toFixed(3), r.calibrationRows === null ? '—' : String(r.calibrationRows)]),
    ]));
  }
  return EXIT.ok;
}

function verifyCommand(folder: string, options: { json?: boolean }): Promise<number> {
  const result = verifyRun(folder);
  if (options.json) out(JSON.stringify(result, null, 2));
  else if (result.ok) out(`✓ ${result.folder}: ${result.checked} artefacts as the manifest lists them; models and provenance consistent`);
  else {
    err(`✗ ${result.folder}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
    for (const problem of result.problems) err(`  ${problem}`);
  }
  return Promise.resolve(result.ok ? EXIT.ok : EXIT.failed);
}

async function doctorCommand(options: { json?: boolean }): Promise<number> {
  const report: Record<string, unknown> = { node: process.versions.node, onnxruntimeNode: onnxruntimeNodeVersion() };
  const problems: string[] = [];
  let python: DoctorResult | undefined;
  try {
    await ensurePython();
    const engine = await Engine.start();
    try {
      python = await engine.call('doctor', {});
    } finally {
      await engine.close();
    }
    Object.assign(report, python);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (Number(process.versions.node.split('.')[0]) < 20) problems.push('Node 20 or newer is required: install it from nodejs.org');
  for (const pkg of ['onnx', 'onnxscript', 'onnxruntime', 'numpy'] as const) {
    if (python && !python[pkg]) problems.push(`the Python package ${pkg} is missing: \`${python.executable} -m pip install -r requirements.txt\``);
  }
  if (!report['onnxruntimeNode']) problems.push('onnxruntime-node is missing: run `npm ci` (with ONNXRUNTIME_NODE_INSTALL=skip offline)');
  report['problems'] = problems;
  if (options.json) {
    out(JSON.stringify(report, null, 2));
  } else {
    const cuda = python ? (python.cuda ? `yes — ${python.cudaDevices.join(', ')}` : 'no (training runs on the CPU)') : '?';
    const rows = [
      ['Node', process.versions.node],
      ['onnxruntime-node', onnxruntimeNodeVersion() ?? 'missing'],
      ['Python', python ? `${python.python} (${python.executable})` : 'not working'],
      ['torch', python?.torch ?? '—'],
      ['CUDA', cuda],
      ['torch threads', python ? String(python.threads) : '—'],
      ['numpy / onnx / onnxscript / onnxruntime', python ? [python.numpy, python.onnx, python.onnxscript, python.onnxruntime].map((v) => v ?? 'missing').join(' / ') : '—'],
      ['methods', python ? python.methods.join(', ') : '—'],
    ];
    out(plainTable(rows));
    for (const problem of problems) out(`✗ ${problem}`);
    if (!problems.length) out('✓ everything Distillery needs is here');
  }
  return problems.length ? EXIT.failed : EXIT.ok;
}

const ENGINE_PACKAGES = ['torch', 'numpy', 'onnx', 'onnxscript', 'onnxruntime'] as const;

interface PythonCheck {
  python: string;
  executable: string;
  packages: Record<string, string | null>;
}

/** Imports the engine's packages with `python` and reports their versions (null: missing). */
function checkPython(python: string): Promise<PythonCheck> {
  const code = [
    'import importlib, json, platform, sys',
    'found = {}',
    `for name in ${JSON.stringify(ENGINE_PACKAGES)}:`,
    '    try:',
    '        found[name] = getattr(importlib.import_module(name), "__version__", "?")',
    '    except Exception:',
    '        found[name] = None',
    'print(json.dumps({"python": platform.python_version(), "executable": sys.executable, "packages": found}))',
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', code], { env: { ...process.env, ...pythonProcessEnv() }, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new EngineError(`${python} could not check its packages: ${(stderr || error.message).trim()}`));
      else resolve(JSON.parse(stdout) as PythonCheck);
    });
  });
}

async function setupCommand(options: { json?: boolean }): Promise<number> {
  const explicit = process.env.DISTILLERY_PYTHON;
  if (explicit && !options.json) err(`DISTILLERY_PYTHON is set: using ${explicit} as it is (nothing is created)`);
  const python = await resolveInterpreter();
  const check = await checkPython(python);
  const missing = ENGINE_PACKAGES.filter((name) => !check.packages[name]);
  const environment = explicit ? null : environmentDir();
  const fix = explicit
    ? `\`${python} -m pip install -r ${REQUIREMENTS_FILE}\`, or unset DISTILLERY_PYTHON`
    : `remove ${environment} and run \`npx distillery setup\` again`;
  const problems = missing.map((name) => `the Python package ${name} is missing from ${python}: ${fix}`);
  if (options.json) {
    out(JSON.stringify({ home: distilleryHome(), environment, python, pythonVersion: check.python, packages: check.packages, problems }, null, 2));
  } else {
    out(
      plainTable([
        ['Python environment', environment ?? `DISTILLERY_PYTHON (${python})`],
        ['interpreter', `${python} (Python ${check.python})`],
        ['packages', ENGINE_PACKAGES.map((name) => `${name} ${check.packages[name] ?? 'MISSING'}`).join(', ')],
      ]),
    );
    for (const problem of problems) out(`✗ ${problem}`);
    if (!problems.length) out('✓ the engine\'s Python environment is ready');
  }
  return problems.length ? EXIT.failed : EXIT.ok;
}

/** Nested arrays of numbers (one sample, as JSON) → its values in order. */
function flatten(value: unknown): number[] {
  return Array.isArray(value) ? value.flatMap(flatten) : [Number(value)];
}

function packageVersion(file: string): string {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

function onnxruntimeNodeVersion(): string | null {
  try {
    return packageVersion(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return null;
  }
}

export function buildProgram(exit: { code: number }): Command {
  const program = new Command('distillery')
    .description('Train a teacher, distil small students, ship them as ONNX.')
    .version(packageVersion(path.join(PACKAGE_ROOT, 'package.json')))
    .exitOverride()
    .configureOutput({ writeOut: (text) => process.stdout.write(text), writeErr: (text) => process.stderr.write(text) });
  const set = (promise: Promise<number>): Promise<void> => promise.then((code) => void (exit.code = code));

  program
    .command('run')
    .description('run an experiment file (JSON or YAML): train the teacher, distil every student, export and evaluate them')
    .argument('<file>', 'experiment file; `distillery schema` prints its JSON Schema')
    .option('-o, --out <dir>', 'output folder (default: runs/<name>)')
    .option('-d, --device <device>', 'auto | cpu | cuda | cuda:N (overrides the file)', device)
    .option('-s, --seed <n>', 'random seed (overrides the file)', integer)
    .option('--seeds <list>', 'repeat the whole experiment for each seed (e.g. 0,1,2) into <out>/seed-<s>, then summarise: mean ± sd and the pooled verdict (seeds.md)', (value) => value.split(',').map(integer))
    .option('--resume', 'keep finished models in the output folder and continue an unfinished one from its last epoch')
    .option('--overwrite', "run into a folder that holds another experiment's run: its artefacts (as its manifest lists them) are removed first")
    .option('--json', 'print report.json to stdout and nothing else')
    .option('--nproc-per-node <n>', 'train on n ranks on this machine through torchrun (DDP; one GPU each, or gloo on the CPU)', positive)
    .option('--nnodes <n>', 'machines taking part (each runs this command with its own --node-rank)', positive)
    .option('--node-rank <r>', "this machine's rank, 0..nnodes-1 (node 0 writes the artefacts and the report)", integer)
    .option('--master-addr <host>', 'address of node 0')
    .option('--master-port <port>', "port of node 0's rendezvous store (default 29500)", port)
    .action((file: string, options: RunFlags) => set(runCommand(file, options)));

  program
    .command('eval')
    .description('evaluate an ONNX model on a labelled dataset')
    .argument('<model>', '.onnx file')
    .requiredOption(
      '--data <file>',
      '.npz with arrays x and y; for a model trained on a table, a .csv/.tsv/.jsonl with its label column; for one trained on images, a folder (one subfolder per class) or an index .csv',
    )
    .option('--teacher <model>', 'also report agreement with this teacher .onnx')
    .option('--top-k <k>', 'k for top-k accuracy (default 5)', integer)
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof evalCommand>[1]) => set(evalCommand(model, options)));

  program
    .command('bench')
    .description('measure latency (batch 1 p50/p99) and throughput of an ONNX model')
    .argument('<model>', '.onnx file')
    .option('--batch <sizes>', 'comma-separated batch sizes (default 1,32,256)', (value) => value.split(',').map(integer))
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof benchCommand>[1]) => set(benchCommand(model, options)));

  program
    .command('predict')
    .description(
      'predict with an ONNX model: samples from .json (one sample or an array of samples), .npy or .npz (x); ' +
        'for a model trained on a table, rows from .csv/.tsv/.jsonl; for one trained on images, an image file or a folder of them',
    )
    .argument('<model>', '.onnx file')
    .argument('<input>', 'input file or folder (raw values: the model\'s recorded preprocessing and normalisation are applied)')
    .option('--json', 'print JSON')
    .action((model: string, input: string, options: Parameters<typeof predictCommand>[2]) => set(predictCommand(model, input, options)));

  program
    .command('quantize')
    .description('make int8 (dynamic, or static QDQ calibrated on data) and fp16 variants of an ONNX model, each a separate .onnx next to it with the same metadata plus distillery.quantization')
    .argument('<model>', '.onnx file')
    .option('--data <file>', 'calibration rows (raw inputs): .npz (x) or .npy; for a model trained on a table, a .csv/.tsv/.jsonl; on images, a folder or an index .csv. Required by int8-static')
    .option('--method <methods>', 'comma-separated: int8-dynamic, int8-static, fp16 (default: all three with --data, else int8-dynamic,fp16)', quantizationMethods)
    .option('-o, --out <file>', 'where to write the variant (one method only; default <model>.<method>.onnx)')
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof quantizeCommand>[1]) => set(quantizeCommand(model, options)));

  program
    .command('setup')
    .description('create (or check) the Python environment the engine runs in; `run`, `doctor` and Engine.start() also do it on first use')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      [
        '',
        'The environment is a Python virtual environment made from requirements.txt (torch, numpy, onnx,',
        'onnxscript, onnxruntime; about 1 GB, a few minutes to download once) with the first Python 3.10+',
        'on PATH. It lives outside node_modules, in a per-user cache shared by every project on the machine:',
        '  <home>/python-<hash of requirements.txt>',
        'where <home> is $DISTILLERY_HOME, else $XDG_CACHE_HOME/distillery, else ~/.cache/distillery.',
        'Two processes setting it up at once are safe: the second waits for the first.',
        '',
        'DISTILLERY_PYTHON=/path/to/python uses that interpreter as it is (it needs the packages of',
        'requirements.txt) and nothing is created.',
      ].join('\n'),
    )
    .action((options: Parameters<typeof setupCommand>[0]) => set(setupCommand(options)));

  program
    .command('verify')
    .description("check a run folder before shipping a model: every artefact as its manifest lists it (sha256), each student's recorded teacher, each model's metadata against report.json, no stray model files")
    .argument('<folder>', 'a run folder (distillery run --out)')
    .option('--json', 'print JSON')
    .action((folder: string, options: Parameters<typeof verifyCommand>[1]) => set(verifyCommand(folder, options)));

  program
    .command('doctor')
    .description('check Node, Python, torch, CUDA, onnx and onnxruntime; exits non-zero with a fix for anything missing')
    .option('--json', 'print JSON')
    .action((options: Parameters<typeof doctorCommand>[0]) => set(doctorCommand(options)));

  program
    .command('schema')
    .description('print the experiment file\'s JSON Schema (generated from the zod schemas)')
    .option('--markdown', 'print the config reference (docs/CONFIG.md) instead')
    .action((options: { markdown?: boolean }) => {
      out(options.markdown ? configReferenceMarkdown() : JSON.stringify(experimentJsonSchema(), null, 2));
    });
  return program;
}

function explain(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof PythonError) {
    const where = error.field ? ` [${error.field}]` : error.file ? ` [${error.file}]` : '';
    return `error${where}: ${error.message}${process.env.DISTILLERY_DEBUG ? `\n${error.pythonTraceback}` : ''}`;
  }
  if (error instanceof EngineError) return `error: ${error.message}`;
  if (error instanceof Error) return `error: ${error.message}${process.env.DISTILLERY_DEBUG ? `\n${error.stack}` : ''}`;
  return `error: ${String(error)}`;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const exit = { code: EXIT.ok as number };
  try {
    await buildProgram(exit).parseAsync(argv);
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    err(explain(error));
    return error instanceof ConfigError ? EXIT.usage : EXIT.failed;
  }
}
