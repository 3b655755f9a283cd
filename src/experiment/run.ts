/**
 * `run(experiment)`: the whole job — teacher, students, ONNX export (one
 * coarse engine call), then evaluation of every .onnx with onnxruntime-node
 * on the test split, and report.json / report.md / charts in the output folder.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, parseExperiment } from '../config';
import type { DistributedConfig, ExperimentConfig, ExperimentInput } from '../config/schema';
import { type Commands, type Engine, type EngineEvent, type ExperimentTrainResult, type ModelResult } from '../engine';
import { TestOutputs } from '../engine/commands';
import { runDistributed } from '../engine/distributed';
import { withOnDemandEngine, type OnDemandEngine } from '../engine/on-demand';
import { prepareData, type DataSummary, type PreparedData } from '../data';
import { agreement, evaluate, loadDataset, type Dataset, type EvaluationReport } from '../eval';
import { OnnxModel } from '../runtime/model';
import { evaluateProbabilities, evaluateValues, predictedClasses, sampleOutcomes } from '../eval/evaluate';
import { predictionAgreement } from '../eval/metrics';
import { engineStudents, isLabelsTrained, labelsTwins, planStudents, type StudentPlan } from '../config/sweep';
import { chooseStudents, withTwins, type Chosen, type SweepReport } from './selection';
import { keptCandidates, selectByFolds, selectionFolds } from './folds';
import { identicalVerdict, verdict } from './verdict';
import { dataWarning, modelWarnings, readValidationOutcomes } from './warnings';
import { latenciesSideBySide, timedRows } from './latency';
import { renderCharts } from './charts';
import { ensureOutputDir, writeFileAtomic } from '../io/files';
import {
  RESOLVED_CONFIG,
  RunFolderError,
  claimRunFolder,
  completeManifest,
  describeArtefacts,
  lockRunFolder,
  roleOf,
  runFiles,
  type Claim,
} from '../io/run-folder';
import { reportMarkdown } from './report';
import type { ModelReport, RunReport, RunWarning, TeacherReport } from './report-types';
import { verifyRun } from './verify';
import { renderFrontier } from './frontier';
import { addVariants } from './variants';
import { required } from '../core/required';
import {
  engineTeacherOf,
  isCalledTeacher,
  labelData,
  type Labelled,
  type LabellingEvent,
  type TeacherLabelling,
} from '../teacher/label';

/** Options of {@link run}: where it writes, the device, the seed, resuming, the engine, cancellation and progress. */
export interface RunOptions {
  /** Output folder (default `runs/<name>`). Everything the run writes goes under it. */
  outDir?: string;
  /** Folder that relative paths in the experiment resolve against (default: the current directory). */
  baseDir?: string;
  /** `auto`, `cpu`, `cuda` or `cuda:N`; overrides the experiment's `device`. */
  device?: string;
  /** Overrides the experiment's seed. */
  seed?: number;
  /** Keep finished models and continue an unfinished one from its last epoch. */
  resume?: boolean;
  /** An engine to reuse; without one, a fresh engine is started and closed around the run. */
  engine?: Engine;
  /** Cancels the run after the current batch; finished models are kept (`resume` continues). */
  signal?: AbortSignal;
  /** Receives each progress event of the training as the engine sends it. */
  onEvent?: (event: EngineEvent) => void;
  /** Receives the progress of a teacher you call as it answers the rows (src/teacher), before the training. */
  onLabelling?: (event: LabellingEvent) => void;
  /** Called once training is done, while the ONNX models are evaluated. */
  onStage?: (stage: 'evaluating' | 'reporting') => void;
  /** The command line that started the run, recorded in the report. */
  command?: string;
  /** Run into a folder that holds another experiment's run: its artefacts (as its manifest lists them) are removed first. */
  overwrite?: boolean;
  /** Train on several processes through torchrun (over the experiment's `distributed` block, field by field). */
  distributed?: Partial<DistributedConfig>;
}

type Exported = ModelResult & { onnx: string; export: NonNullable<ModelResult['export']> };

/**
 * A teacher that reads raw texts with its own tokenizer, or is given by its answers (src/teacher): not exported;
 * measured from the test outputs the engine wrote (none for answers that do not cover data.test).
 */
type TextTeacher = ModelResult & { inputs: 'texts' | 'outputs' };

/** The teacher's class answers on the test rows that its students' agreement is measured against. */
type TeacherAnswers = { model: OnnxModel } | { classes: Int32Array };

function withoutOnnx(result: ModelResult): TextTeacher | null {
  if (result.inputs === undefined) return null;
  if (result.inputs === 'texts' && result.testOutputs === undefined)
    throw new Error(`${result.name}: the engine wrote no test outputs for it`);
  return result as TextTeacher;
}

/** run_experiment always exports: a model without its .onnx here is a bug on the Python side. */
function exported(result: ModelResult): Exported {
  if (result.onnx === null || result.export === null)
    throw new Error(`${result.name}: the engine returned no .onnx for it`);
  return result as Exported;
}

/**
 * Runs an experiment end to end, as `distillery run` does: trains the teacher and every student, exports them to ONNX,
 * evaluates the exported files with the runtime, and writes report.json, report.md, charts and manifest.json.
 *
 * @example
 * ```ts
 * import { run } from 'distillery';
 *
 * const report = await run(
 *   {
 *     name: 'mine',
 *     teacher: { type: 'train', model: { type: 'mlp', hidden: [1200, 1200] } },
 *     students: [{ name: 'small', model: { type: 'mlp', hidden: [300] }, method: { type: 'soft-targets' } }],
 *   },
 *   { outDir: 'runs/mine' },
 * );
 * for (const student of report.students) console.log(student.name, student.test, student.verdict?.conclusion);
 * ```
 * @param experiment - the experiment, as written (defaults are filled) or already parsed
 * @param options - output folder, device, seed, resume, an engine to reuse, cancellation and progress
 * @returns the run's report (also written to `<outDir>/report.json`)
 * @throws {@link ConfigError} when the experiment is invalid, naming each field at fault
 * @throws {@link RunFolderError} when the output folder is in use, holds another experiment, or changed on resume
 * @throws {@link EngineError} (a subclass) when Python fails, the run is aborted, or training diverges
 */
export async function run(
  experiment: ExperimentInput | ExperimentConfig,
  options: RunOptions = {},
): Promise<RunReport> {
  const started = Date.now();
  const parsed = parseExperiment(withDistributed(experiment, options.distributed), { baseDir: options.baseDir });
  const config: ExperimentConfig = {
    ...parsed,
    ...(options.device ? { device: options.device } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  };
  const outDir = path.resolve(options.outDir ?? path.join('runs', config.name));
  ensureOutputDir(outDir); // a ConfigError naming outDir, before the engine starts
  if (config.distributed && config.distributed.nodeRank > 0) {
    throw new ConfigError([
      {
        path: 'distributed.nodeRank',
        message: `node ${config.distributed.nodeRank} runs only its ranks (joinDistributedRun(), which \`distillery run --node-rank\` calls); node 0 runs the experiment and writes the report`,
      },
    ]);
  }
  const lock = lockRunFolder(outDir, `distillery run ${config.name}`);
  try {
    // How it is launched is not what it is: the same experiment on 1 or N ranks trains the same weights.
    const { distributed: _launch, ...identity } = config;
    // Claimed before anything is written: another experiment's folder, or a changed config on --resume, is refused here.
    const claim = claimRunFolder(outDir, config.name, identity, {
      resume: options.resume ?? false,
      overwrite: options.overwrite ?? false,
    });
    // One engine for the tokenizer (a text column's, fitted while the data are prepared) and the training.
    const { prepared, plan, decided, trained, labelled } = await withOnDemandEngine(options.engine, async (engine) => {
      const prepared = await prepareData(config.data, outDir, { engine: () => engine.get() });
      for (const note of prepared.summary.notes ?? []) options.onEvent?.({ event: 'log', message: `note: ${note}` });
      // A teacher you call answers the rows first; the engine then reads its answers (src/teacher).
      const labelled = isCalledTeacher(config.teacher)
        ? await labelData(config.teacher, config.data, prepared, outDir, {
            engine: () => engine.get(),
            ...(options.signal ? { signal: options.signal } : {}),
            onEvent: (event) => (event.event === 'log' ? options.onEvent?.(event) : options.onLabelling?.(event)),
          })
        : null;
      if (labelled) options.onEvent?.({ event: 'log', message: labellingNote(labelled.labelling) });
      return { prepared, labelled, ...(await trainAll(config, prepared, outDir, options, engine, labelled)) };
    });
    options.onStage?.('evaluating');
    const { report, labels } = await evaluateRun(
      config,
      plan,
      trained,
      outDir,
      options.command ?? 'run()',
      started,
      prepared.summary,
      decided,
      labelled?.labelling ?? null,
    );
    // (k-fold decisions were said when they were made, before the main run)
    for (const sweep of report.sweeps.filter((group) => group.evidence === 'validation'))
      options.onEvent?.({ event: 'log', message: `${sweep.student}: ${sweep.summary}` });
    options.onStage?.('reporting');
    await writeReport(report, config.data.labels ?? labels, config, outDir, claim);
    const verified = verifyRun(outDir);
    if (!verified.ok) {
      throw new RunFolderError(
        outDir,
        'verify',
        `${outDir} failed verification:\n  ${verified.problems.join('\n  ')}`,
        { mismatches: verified.problems },
      );
    }
    return report;
  } finally {
    lock.release();
  }
}

/**
 * Sweeps and auto expanded, baselines added, before anything is trained; with k-fold selection (folds.ts) the folds
 * are trained first and the main run trains only the chosen candidates. One engine serves every run.
 */
async function trainAll(
  config: ExperimentConfig,
  prepared: PreparedData,
  outDir: string,
  options: RunOptions,
  engine: OnDemandEngine,
  labelled: Labelled | null,
): Promise<{ plan: StudentPlan; decided: Map<string, SweepReport> | undefined; trained: ExperimentTrainResult }> {
  const resume = options.resume ?? false;
  const teacher = engineTeacherOf(config.teacher, labelled);
  const data = labelled?.data ?? prepared.data;
  const full = planStudents(config);
  const log = (message: string): void => options.onEvent?.({ event: 'log', message });
  const { folds, reason } = selectionFolds(config, full, prepared.summary);
  refuseFoldsOnSeveralNodes(config, folds);
  if (full.groups.length > 0)
    log(
      folds === null
        ? `selection on the validation split (${reason})`
        : `selection by ${folds}-fold cross-validation over data.train (${reason})`,
    );
  return withTrainer(config, options, engine, async (train) => {
    const decided =
      folds === null
        ? undefined
        : await selectByFolds(config, full, data, outDir, folds, {
            resume,
            teacher,
            train: (request) => train(request, announced(full, options)),
            log,
          });
    const plan = decided ? planStudents(config, keptCandidates(decided)) : full;
    const twins = labelsTwins(plan);
    for (const report of decided?.values() ?? []) log(`${report.student}: ${withTwins(report, twins).summary}`);
    for (const [candidate, student] of twins)
      log(
        `${candidate}: the same model, method and training as ${student}, so not trained again: ${student} stands for it`,
      );
    // What the engine runs, every default and the encoded data spelled out: `python -m distillery run_experiment` takes it as it is.
    const request = engineRequest(config, plan, data, outDir, resume, teacher);
    const trained = await train(request, announced(plan, options));
    return { plan, decided, trained };
  });
}

const announced = (plan: StudentPlan, options: RunOptions): ((event: EngineEvent) => void) | undefined =>
  options.onEvent && announceCandidates(plan, options.onEvent);

type Train = (
  request: Commands['run_experiment']['request'],
  onEvent: ((event: EngineEvent) => void) | undefined,
) => Promise<ExperimentTrainResult>;

/**
 * Runs `body` with a way to train one engine request: through one engine (pythonia) for every request, or torchrun
 * per request. Each request is written first as `<its outDir>/resolved-config.json`, what torchrun's ranks read.
 */
async function withTrainer<T>(
  config: ExperimentConfig,
  options: RunOptions,
  engine: OnDemandEngine,
  body: (train: Train) => Promise<T>,
): Promise<T> {
  const record = (request: Commands['run_experiment']['request']): string => {
    const file = path.join(request.outDir, RESOLVED_CONFIG);
    ensureOutputDir(request.outDir);
    writeFileAtomic(file, JSON.stringify(request, null, 2));
    return file;
  };
  if (config.distributed) return body((request, onEvent) => trainDistributed(record(request), { ...options, onEvent }));
  return body(async (request, onEvent) => {
    record(request);
    return (await engine.get()).call('run_experiment', request, { signal: options.signal, onEvent });
  });
}

/** Forwards the engine's events, saying "candidate k of n" as each sweep candidate starts training. */
function announceCandidates(plan: StudentPlan, onEvent: (event: EngineEvent) => void): (event: EngineEvent) => void {
  const position = new Map(
    plan.groups.flatMap((group) =>
      group.candidates.map(
        (candidate, index) => [candidate.name, { group, index, overrides: candidate.overrides }] as const,
      ),
    ),
  );
  return (event) => {
    const candidate = event.event === 'phase-start' ? position.get(event.name) : undefined;
    if (candidate) {
      const fields = Object.entries(candidate.overrides)
        .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
        .join(', ');
      onEvent({
        event: 'log',
        message: `${candidate.group.name}: candidate ${candidate.index + 1} of ${candidate.group.candidates.length} (${fields})`,
      });
    }
    onEvent(event);
  };
}

function withDistributed(
  experiment: ExperimentInput | ExperimentConfig,
  flags: Partial<DistributedConfig> | undefined,
): ExperimentInput | ExperimentConfig {
  const given = Object.fromEntries(Object.entries<unknown>(flags ?? {}).filter(([, value]) => value !== undefined));
  return Object.keys(given).length
    ? { ...experiment, distributed: { ...experiment.distributed, ...given } }
    : experiment;
}

/** Worker nodes run only the main run's ranks (joinDistributedRun), so k-fold selection needs a single node. */
function refuseFoldsOnSeveralNodes(config: ExperimentConfig, folds: number | null): void {
  if (folds === null || (config.distributed?.nnodes ?? 1) === 1) return;
  throw new ConfigError([
    {
      path: 'evaluate.selection.folds',
      message: `k-fold selection (${folds} folds) runs on one node; with distributed.nnodes ${config.distributed?.nnodes ?? 1}, set evaluate.selection.folds: 'off' (the validation split decides) or run it on one node`,
    },
  ]);
}

async function trainDistributed(requestFile: string, options: RunOptions): Promise<ExperimentTrainResult> {
  const trained = await runDistributed(requestFile, { signal: options.signal, onEvent: options.onEvent });
  if (!trained) throw new Error('the distributed run returned no result on node 0');
  return trained;
}

/**
 * A node other than node 0 of a multi-node run: prepares the data as node 0 does and runs this node's ranks
 * until the job ends. It writes nothing in outDir (rank 0, on node 0, writes every artefact and the report).
 */
export async function joinDistributedRun(
  experiment: ExperimentInput | ExperimentConfig,
  options: RunOptions = {},
): Promise<void> {
  const config = parseExperiment(withDistributed(experiment, options.distributed), { baseDir: options.baseDir });
  if (isCalledTeacher(config.teacher)) {
    throw new ConfigError([
      {
        path: 'teacher.type',
        message: `a '${config.teacher.type}' teacher answers the rows on node 0 before training; a run on several nodes takes a teacher the engine trains or loads`,
      },
    ]);
  }
  const outDir = path.resolve(options.outDir ?? path.join('runs', config.name));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-node-'));
  try {
    const prepared = await prepareData(config.data, scratch);
    refuseFoldsOnSeveralNodes(config, selectionFolds(config, planStudents(config), prepared.summary).folds);
    // Every node must train the same student list as node 0: the same expansion of sweeps, auto and baselines.
    const overridden = {
      ...config,
      ...(options.device ? { device: options.device } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    };
    const request = engineRequest(
      overridden,
      planStudents(config),
      prepared.data,
      outDir,
      options.resume ?? false,
      engineTeacherOf(config.teacher, null),
    );
    const file = path.join(scratch, RESOLVED_CONFIG);
    writeFileAtomic(file, JSON.stringify(request, null, 2));
    await runDistributed(file, { signal: options.signal, onEvent: options.onEvent });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * What the engine runs: the experiment with its students expanded (no sweep left), its labels twins left out (the
 * students they are stand for them, src/config/sweep.ts), and its data encoded.
 */
function engineRequest(
  config: ExperimentConfig,
  plan: StudentPlan,
  data: PreparedData['data'],
  outDir: string,
  resume: boolean,
  teacher: ReturnType<typeof engineTeacherOf>,
) {
  const { sweep: _sweep, ...engineConfig } = config;
  return { ...engineConfig, teacher, students: engineStudents(plan), data, outDir, resume };
}

/** What the output says once a called teacher has answered: rows asked and cached, calls, retries, the kind. */
function labellingNote(labelling: TeacherLabelling): string {
  const rows = labelling.splits.map((split) => `${split.split} ${split.rows} (${split.cached} cached)`).join(', ');
  const kind =
    labelling.kind === 'labels'
      ? 'labels alone: no soft targets, the students learn them as pseudo-labels'
      : `${labelling.kind}${labelling.kindFrom === 'auto' ? ' (decided on its first answers)' : ''}`;
  return `teacher answers (${labelling.source}): ${rows}; ${labelling.calls} calls, ${labelling.retries} retries, ${labelling.failures} failed attempts; ${kind}`;
}

/** The report, and the class names recorded in the students' ONNX metadata (for the confusion matrix). */
async function evaluateRun(
  config: ExperimentConfig,
  plan: StudentPlan,
  trained: ExperimentTrainResult,
  outDir: string,
  command: string,
  started: number,
  data: DataSummary,
  decided: ReadonlyMap<string, SweepReport> | undefined,
  labelling: TeacherLabelling | null,
): Promise<{ report: RunReport; labels: string[] }> {
  const dataset = await loadDataset(trained.testData);
  // Candidates are chosen on validation (or k-fold) evidence alone; only the chosen ones (and their baselines) meet the test set.
  const chosen = chooseStudents(plan, trained.students, config.data.task, {
    level: config.evaluate.selection.level,
    ...(decided ? { decided } : {}),
  });
  // A teacher that reads raw texts has no .onnx: the runtime cannot feed it the data's rows (report-types' TeacherReport).
  const textTeacher = withoutOnnx(trained.teacher);
  const studentResults: Exported[] = chosen.evaluated.map(exported);
  const results: Exported[] = textTeacher ? studentResults : [exported(trained.teacher), ...studentResults];
  const models: OnnxModel[] = [];
  try {
    for (const result of results) models.push(await OnnxModel.load(result.onnx, result.loadOptions ?? {}));
    const studentModels = textTeacher ? models : models.slice(1);
    const measured = textTeacher
      ? await textTeacherReport(textTeacher, dataset, config, labelling)
      : await onnxTeacherReport(required(models[0], "the teacher's model"), required(results[0], 'the teacher'), {
          dataset,
          config,
          outDir,
        });
    const teacherModel = measured.answers && 'model' in measured.answers ? measured.answers.model : null;
    const studentReports: ModelReport[] = [];
    for (const [index, result] of studentResults.entries()) {
      studentReports.push(
        await evaluateModel(
          required(studentModels[index], 'the model of a result'),
          result,
          dataset,
          config,
          outDir,
          measured.answers,
        ),
      );
    }
    const byName = new Map(
      studentResults.map((result, index) => [
        result.name,
        {
          report: required(studentReports[index], 'the report of a result'),
          model: required(studentModels[index], 'the model of a result'),
        },
      ]),
    );
    for (const [student, baseline] of chosen.baselineOf) {
      const mine = required(byName.get(student), `the student ${student}`);
      const theirs = required(byName.get(baseline), `the baseline ${baseline}`);
      mine.report.verdict = verdict(
        baseline,
        await sampleOutcomes(mine.model, dataset),
        await sampleOutcomes(theirs.model, dataset),
      );
    }
    for (const [name, group] of chosen.candidateOf)
      if (!chosen.sameAs.has(name)) required(byName.get(name), `the student ${name}`).report.candidateOf = group;
    // A text model is timed on data.test's raw rows (tokenization included), the others on synthetic values.
    const timed = config.evaluate.benchmark ? await timedRows(config, models) : null;
    if (config.evaluate.benchmark) {
      // Timed side by side, in the order of `models`: the teacher first when it has an .onnx.
      const latencies = await latenciesSideBySide(models, timed);
      const timedReports: (ModelReport | TeacherReport)[] = textTeacher
        ? studentReports
        : [measured.report, ...studentReports];
      const teacherP50 = textTeacher ? undefined : required(latencies[0], "the teacher's latency").batch1P50Ms;
      for (const [index, report] of timedReports.entries()) {
        const latency = required(latencies[index], 'the latency of a model');
        report.latency = latency;
        if (report.role === 'student' && teacherP50 !== undefined)
          report.speedupOverTeacher = teacherP50 / latency.batch1P50Ms;
      }
    }
    await addVariants(studentReports, studentResults, studentModels, dataset, config, outDir, timed);
    const teacher = measured.report;
    const students = studentReports;
    const reports = [teacher, ...students];
    const labels = [...(studentModels[0]?.info.labels ?? teacherModel?.info.labels ?? trained.teacher.labels)];
    const report: RunReport = {
      name: config.name,
      createdAt: new Date().toISOString(),
      distillery: packageVersion(),
      device: trained.device,
      torch: trained.torch,
      seed: config.seed,
      durationSeconds: (Date.now() - started) / 1000,
      machine: machine(),
      command,
      task: config.data.task,
      testData: path.relative(outDir, trained.testData),
      data,
      warnings: [
        ...trained.warnings.map(dataWarning),
        ...skippedWarnings(data),
        ...modelWarnings({
          task: config.data.task,
          reports,
          classNames: config.data.labels ?? labels,
          teacher: trained.teacher,
          students: trained.students,
          planned: plan.students.map((student) => ({ ...student, labelsTrained: isLabelsTrained(student) })),
          validationOutcomes: (name) => readValidationOutcomes(outDir, name),
        }),
      ],
      teacher,
      students: withTwinReports(students, chosen, plan, config.data.task),
      sweeps: chosen.sweeps,
      artefacts: [], // filled by writeReport, once every file is written
      ...(trained.distributed ? { distributed: trained.distributed } : {}),
    };
    return { report, labels };
  } finally {
    for (const model of models) await model.close();
  }
}

/**
 * A group that kept a labels twin shows the student that it is, under the candidate's name: that student's report
 * (its ONNX file, test results, latency, variants), `sameAs` naming it, and the verdict `identical`. In plan order.
 */
function withTwinReports(
  students: readonly ModelReport[],
  chosen: Chosen,
  plan: StudentPlan,
  task: 'classification' | 'regression',
): ModelReport[] {
  const twins = [...chosen.sameAs].map(([candidate, student]): ModelReport => {
    const original = required(
      students.find((report) => report.name === student),
      `the student ${student}`,
    );
    return {
      ...structuredClone(original),
      name: candidate,
      candidateOf: required(chosen.candidateOf.get(candidate), `the group of ${candidate}`),
      sameAs: student,
      verdict: identicalVerdict(student, task),
    };
  });
  const order = new Map(plan.students.map((student, index) => [student.name, index]));
  const place = (report: ModelReport): number => order.get(report.name) ?? order.size;
  return [...students, ...twins].sort((a, b) => place(a) - place(b));
}

/**
 * A teacher that reads raw texts: its test metrics computed by {@link evaluate}'s functions from the class
 * probabilities the engine wrote for the same test rows (`results/<name>.test-outputs.json`), and its classes there
 * for the students' agreement. No .onnx, no latency.
 */
async function textTeacherReport(
  result: TextTeacher,
  dataset: Dataset,
  config: ExperimentConfig,
  labelling: TeacherLabelling | null,
): Promise<{ report: TeacherReport; answers: TeacherAnswers | null }> {
  const outputs =
    result.testOutputs === undefined
      ? null
      : TestOutputs.parse(JSON.parse(fs.readFileSync(result.testOutputs, 'utf8')));
  const labels = result.labels.length ? result.labels : null;
  const evaluation =
    outputs === null
      ? null
      : 'values' in outputs
        ? evaluateValues(result.name, outputs.values, dataset)
        : evaluateProbabilities(result.name, outputs.probabilities, dataset, labels, {
            topK: config.evaluate.topK,
            eceBins: config.evaluate.calibrationBins,
          });
  // A function teacher's config holds its function: the report keeps what can be written down.
  const { call: _call, ...model } = config.teacher as typeof config.teacher & { call?: unknown };
  const report: TeacherReport = {
    name: result.name,
    role: result.role,
    method: result.method,
    model,
    params: result.params,
    flopsPerSample: result.flopsPerSample,
    onnx: null,
    sizeBytes: null,
    parityMaxAbsDiff: null,
    test: evaluation === null ? null : testSummary(evaluation),
    latency: null,
    trainSeconds: result.trainSeconds,
    history: result.history,
    ...(evaluation?.task === 'classification' ? { confusion: evaluation.confusion } : {}),
    inputs: result.inputs,
    source: { path: result.checkpoint, sha256: await sha256File(result.checkpoint) },
    ...(labelling ? { labelling } : {}),
  };
  if (outputs === null) return { report, answers: null };
  const classes = Int32Array.from('probabilities' in outputs ? outputs.probabilities : [], (row) =>
    row.reduce((best, value, i) => (value > (row[best] ?? -Infinity) ? i : best), 0),
  );
  return { report, answers: { classes } }; // (regression: no agreement, as with every teacher)
}

/** A teacher with an .onnx: evaluated in the runtime like every model; its students' agreement is with that file. */
async function onnxTeacherReport(
  model: OnnxModel,
  result: Exported,
  { dataset, config, outDir }: { dataset: Dataset; config: ExperimentConfig; outDir: string },
): Promise<{ report: TeacherReport; answers: TeacherAnswers }> {
  return { report: await evaluateModel(model, result, dataset, config, outDir, null), answers: { model } };
}

async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function evaluateModel(
  model: OnnxModel,
  result: Exported,
  dataset: Dataset,
  config: ExperimentConfig,
  outDir: string,
  teacher: TeacherAnswers | null,
): Promise<ModelReport> {
  const evaluation = await evaluate(model, dataset, {
    topK: config.evaluate.topK,
    eceBins: config.evaluate.calibrationBins,
  });
  const fidelity =
    !teacher || evaluation.task !== 'classification'
      ? undefined
      : 'model' in teacher
        ? await agreement(model, teacher.model, dataset)
        : { agreement: predictionAgreement(await predictedClasses(model, dataset), teacher.classes) };
  const report: ModelReport = {
    name: result.name,
    role: result.role,
    method: result.method,
    model: model.info.model ?? {},
    params: result.params,
    flopsPerSample: result.flopsPerSample,
    onnx: path.relative(outDir, result.onnx),
    sizeBytes: result.export.sizeBytes,
    parityMaxAbsDiff: result.export.parityMaxAbsDiff,
    test: testSummary(evaluation),
    latency: null,
    trainSeconds: result.trainSeconds,
    history: result.history,
  };
  if (fidelity) report.agreementWithTeacher = fidelity.agreement;
  if (evaluation.task === 'classification') report.confusion = evaluation.confusion;
  if (result.vectors) report.vectors = result.vectors;
  return report;
}

function testSummary(evaluation: EvaluationReport): ModelReport['test'] {
  if (evaluation.task === 'regression')
    return { n: evaluation.samples, rmse: evaluation.rmse, mae: evaluation.mae, r2: evaluation.r2 };
  return {
    n: evaluation.samples,
    accuracy: evaluation.accuracy,
    errors: evaluation.errors,
    nll: evaluation.nll,
    ece: evaluation.ece,
    topK: evaluation.topK,
  };
}

/** Charts, report.md, then report.json listing every artefact, then the finished manifest with their hashes. */
async function writeReport(
  report: RunReport,
  labels: string[],
  config: ExperimentConfig,
  outDir: string,
  claim: Claim,
): Promise<void> {
  const charts: { curves?: string; confusion?: string; frontier?: string; error?: string } = {};
  try {
    const svgs = await renderCharts(report, labels);
    writeFileAtomic(path.join(outDir, 'learning-curves.svg'), svgs.curves);
    charts.curves = 'learning-curves.svg';
    if (svgs.confusion) {
      writeFileAtomic(path.join(outDir, 'confusion-matrix.svg'), svgs.confusion);
      charts.confusion = 'confusion-matrix.svg';
    }
    const frontier = await renderFrontier(report);
    if (frontier) {
      writeFileAtomic(path.join(outDir, 'accuracy-frontier.svg'), frontier);
      charts.frontier = 'accuracy-frontier.svg';
    }
  } catch (error) {
    charts.error = (error as Error).message;
  }
  writeFileAtomic(path.join(outDir, 'report.md'), reportMarkdown(report, config, charts));
  const files = [...new Set([...runFiles(outDir), 'report.json'])].filter((file) => !claim.foreign.has(file)).sort();
  // Paths and roles only: each file is hashed once, for the manifest, after report.json is written.
  report.artefacts = files.map((file) => ({ path: file, role: roleOf(file, config.teacher.name) }));
  writeFileAtomic(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2));
  completeManifest(outDir, claim, describeArtefacts(outDir, files, config.teacher.name));
}

function packageVersion(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** What preparing the data found doubtful (src/data: a column of nearly one category per row), and images skipped. */
function skippedWarnings(data: DataSummary): RunWarning[] {
  const skipped = Object.entries(data.skipped)
    .filter(([, count]) => count > 0)
    .map(([role, count]) => `data.${role}: ${count} unreadable image${count === 1 ? '' : 's'} skipped (onError: skip)`);
  return [...(data.warnings ?? []), ...skipped].map((message) => ({ kind: 'data', message }));
}

/** The machine the latencies were measured on. */
const machine = (): string =>
  `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
