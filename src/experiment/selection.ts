/**
 * After training: which students the report shows and tests. Each sweep group keeps the candidate with the best
 * validation score (never a test metric: candidates are trained without reading the test split at all); each
 * distilled student is paired with the labels-trained student of its architecture for the verdict.
 */
import type { ModelResult } from '../engine';
import { chooseCandidate, isLabelsTrained, validationScore, type StudentPlan } from '../config/sweep';
import type { MethodConfig } from '../config/schema';

export interface CandidateReport {
  name: string;
  overrides: Record<string, unknown>;
  method: MethodConfig | null;
  /** Validation accuracy (classification) or RMSE (regression) of the kept epoch. */
  validation: number;
  chosen: boolean;
}

export interface SweepReport {
  /** The experiment's student that expanded into the candidates. */
  student: string;
  auto: boolean;
  metric: 'validationAccuracy' | 'validationRmse';
  candidates: CandidateReport[];
  chosen: string;
  /** auto kept the labels-trained candidate: distillation did not beat it on validation. */
  labelsKept: boolean;
}

export interface Chosen {
  /** The students the report tests, in the engine's order: the non-candidates, each group's choice, and the
   * labels-trained candidates that a chosen student is judged against. */
  evaluated: ModelResult[];
  /** distilled student → its labels-trained baseline. */
  baselineOf: Map<string, string>;
  /** chosen candidate → the student it was chosen for. */
  candidateOf: Map<string, string>;
  sweeps: SweepReport[];
}

export function chooseStudents(
  plan: StudentPlan,
  results: readonly ModelResult[],
  task: 'classification' | 'regression',
): Chosen {
  const byName = new Map(results.map((result) => [result.name, result]));
  const metric = task === 'classification' ? 'validationAccuracy' : 'validationRmse';
  const score = (result: ModelResult): number => {
    const value = validationScore(result.metrics, task);
    if (value === undefined) throw new Error(`${result.name}: the engine returned no ${metric} for a sweep candidate`);
    return value;
  };
  const candidateOf = new Map<string, string>();
  const sweeps: SweepReport[] = plan.groups.map((group) => {
    const candidates = group.candidates.map((candidate) => byName.get(candidate.name)!);
    const best = chooseCandidate(candidates, score);
    candidateOf.set(best.name, group.name);
    return {
      student: group.name,
      auto: group.auto,
      metric,
      candidates: group.candidates.map((candidate) => {
        const result = byName.get(candidate.name)!;
        return {
          ...candidate,
          method: result.method,
          validation: task === 'classification' ? score(result) : -score(result),
          chosen: result === best,
        };
      }),
      chosen: best.name,
      labelsKept: group.auto && best.method !== null && isLabelsTrained({ method: best.method }),
    };
  });
  const plannedCandidate = new Set(plan.groups.flatMap((group) => group.candidates.map((candidate) => candidate.name)));
  const shown = results.filter((result) => !plannedCandidate.has(result.name) || candidateOf.has(result.name));
  const baselineOf = new Map<string, string>();
  const models = new Map(plan.students.map((student) => [student.name, JSON.stringify(student.model)]));
  for (const student of shown) {
    if (student.method === null || isLabelsTrained({ method: student.method })) continue;
    const baseline = findBaseline(student, shown, results, models);
    if (baseline) baselineOf.set(student.name, baseline.name);
  }
  const needed = new Set([...shown.map((result) => result.name), ...baselineOf.values()]);
  return { evaluated: results.filter((result) => needed.has(result.name)), baselineOf, candidateOf, sweeps };
}

/** The labels-trained student with the same model, preferring one the report shows anyway, then one in the same group. */
function findBaseline(
  student: ModelResult,
  shown: readonly ModelResult[],
  all: readonly ModelResult[],
  models: ReadonlyMap<string, string>,
): ModelResult | undefined {
  const model = models.get(student.name);
  const matches = (result: ModelResult): boolean =>
    result !== student &&
    result.method !== null &&
    isLabelsTrained({ method: result.method }) &&
    models.get(result.name) === model;
  return shown.find(matches) ?? all.find(matches);
}
