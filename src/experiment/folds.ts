/**
 * k-fold selection: when the validation split is small, sweeps and `auto` choose on every row of data.train instead.
 *
 * For each fold i of k (stratified and deterministic: python/distillery/data.py `fold_split`), one engine run of the
 * teacher and the groups' candidates with `validation: { type: 'fold', folds: k, fold: i }` into
 * `<outDir>/selection/fold-<i>/` — checkpoints only: no export, no test evaluation, no other student. Each fold's
 * teacher learns on that fold's training rows alone, never on the rows its students are judged on. Every data.train
 * row is then predicted once per candidate, by the fold that held it out, and the rule of selection.ts runs on those
 * n rows. The main run then trains only the chosen candidates (with the user's own validation split for the epoch
 * choice), the other students and the baselines. Under `--resume` a finished fold's models are kept (the engine
 * keeps finished models per folder).
 */
import * as path from 'node:path';
import type { EngineTeacher, ExperimentConfig } from '../config/schema';
import type { z } from 'zod';
import type { PlannedStudent, StudentPlan } from '../config/sweep';
import type { DataSummary, PreparedData } from '../data';
import type { Commands, ExperimentTrainResult } from '../engine';
import { required } from '../core/required';
import { decideGroup, evidenceOf, readPredictions, type Predictions, type SweepReport } from './selection';

/** Folds used by `evaluate.selection.folds: 'auto'` when the validation rows are too few. */
export const AUTO_FOLDS = 5;

type ExperimentRequest = Commands['run_experiment']['request'];
/** Runs one engine request (one process, or torchrun) whose folder is `request.outDir`. */
export type TrainExperiment = (request: ExperimentRequest) => Promise<ExperimentTrainResult>;

/** The embedded MNIST's rows per split (src/config/schema.ts MnistSource). */
const MNIST_ROWS = { train: 8000, test: 2000, all: 10000 } as const;

/**
 * How many folds choose the candidates, or null when the validation split decides (no group, `folds: 'off'`, enough
 * validation rows, or a row count this side cannot know without reading the arrays: then the validation rows decide,
 * and `reason` says why).
 */
export function selectionFolds(
  config: ExperimentConfig,
  plan: StudentPlan,
  summary: DataSummary,
): { folds: number | null; reason: string } {
  const { folds, minValidationRows } = config.evaluate.selection;
  if (plan.groups.length === 0) return { folds: null, reason: 'no sweep or auto group' };
  if (folds === 'off') return { folds: null, reason: "evaluate.selection.folds: 'off'" };
  if (typeof folds === 'number') return { folds, reason: `evaluate.selection.folds: ${folds}` };
  const rows = validationRows(config, summary);
  if (rows === undefined) return { folds: null, reason: 'the validation rows could not be counted before training' };
  return rows < minValidationRows
    ? {
        folds: AUTO_FOLDS,
        reason: `${rows} validation rows, fewer than evaluate.selection.minValidationRows (${minValidationRows})`,
      }
    : { folds: null, reason: `${rows} validation rows` };
}

/** The validation rows, as far as they can be known before the engine reads the data (a split: about its share). */
function validationRows(config: ExperimentConfig, summary: DataSummary): number | undefined {
  const validation = config.data.validation;
  if (validation === undefined) return undefined;
  if (validation.type === 'split' || validation.type === 'fold') {
    const train = rowsOf(config.data.train, summary.rows.train);
    if (train === undefined) return undefined;
    return Math.round(validation.type === 'split' ? train * validation.fraction : train / validation.folds);
  }
  return rowsOf(validation, summary.rows.validation);
}

function rowsOf(source: ExperimentConfig['data']['train'], counted: number | undefined): number | undefined {
  if (counted !== undefined) return counted;
  if (source.type !== 'mnist') return undefined;
  const available = MNIST_ROWS[source.split] - source.offset;
  return Math.max(0, Math.min(available, source.limit ?? available));
}

type EngineTeacherInput = z.input<typeof EngineTeacher>;

/**
 * Trains each fold's teacher and candidates, then decides every group on the out-of-fold predictions of all of
 * data.train. Returns each group's report, by group name.
 */
export async function selectByFolds(
  config: ExperimentConfig,
  plan: StudentPlan,
  data: PreparedData['data'],
  outDir: string,
  folds: number,
  options: {
    resume: boolean;
    train: TrainExperiment;
    log: (message: string) => void;
    /** The teacher as the engine takes it (a called teacher's answers: src/teacher). */
    teacher: EngineTeacherInput;
  },
): Promise<Map<string, SweepReport>> {
  const candidates = plan.students.filter((student): student is PlannedStudent & { candidate: object } =>
    Boolean(student.candidate),
  );
  const parts = new Map<string, Predictions[]>(candidates.map((candidate) => [candidate.name, []]));
  for (let fold = 0; fold < folds; fold++) {
    options.log(`selection: fold ${fold + 1} of ${folds} (teacher and ${candidates.length} candidates)`);
    const { sweep: _sweep, ...engineConfig } = config;
    const trained = await options.train({
      ...engineConfig,
      teacher: options.teacher,
      students: candidates,
      data: { ...data, validation: { type: 'fold', folds, fold } },
      outDir: foldFolder(outDir, fold),
      resume: options.resume,
      export: false,
    });
    for (const result of trained.students) {
      const file = result.validationPredictions;
      if (file === undefined)
        throw new Error(`${result.name}: the engine returned no validation predictions in fold ${fold}`);
      required(parts.get(result.name), `the candidate ${result.name}`).push(readPredictions(file));
    }
  }
  const methods = new Map(candidates.map((candidate) => [candidate.name, candidate.method]));
  const { level } = config.evaluate.selection;
  return new Map(
    plan.groups.map((group) => {
      const evidence = group.candidates.map((candidate) =>
        evidenceOf(candidate.name, required(parts.get(candidate.name), candidate.name), config.data.task),
      );
      const groupMethods = group.candidates.map((candidate) => methods.get(candidate.name) ?? null);
      return [
        group.name,
        decideGroup(group, groupMethods, evidence, config.data.task, { level, kind: 'k-fold', folds }),
      ] as const;
    }),
  );
}

/** Where fold `fold`'s models go. */
export function foldFolder(outDir: string, fold: number): string {
  return path.join(outDir, 'selection', `fold-${fold}`);
}

/** group → its kept candidate, for `planStudents(config, keep)`. */
export function keptCandidates(decided: ReadonlyMap<string, SweepReport>): Map<string, string> {
  return new Map([...decided].map(([group, report]) => [group, report.chosen]));
}
