/**
 * Sweeps and `auto`: an experiment's students expanded into the students the engine trains.
 *
 * - `sweep` (a grid over student fields) turns each student into one candidate per combination, named
 *   `<student>-<k>`; `method: { type: 'auto' }` does the same with AUTO_CANDIDATES. The engine trains every
 *   candidate without reading the test split; src/experiment/selection.ts keeps the reference candidate (the
 *   labels-trained one) unless another is significantly better on the same rows.
 * - With `evaluate.baselines`, a distilled student with no labels-trained student of the same architecture gets
 *   one (`<student>-labels`), so that the report's verdict always has its comparison.
 *
 * Everything here is a pure function of the parsed experiment: the expansion is written into the run folder's
 * resolved-config.json, and `python -m distillery run_experiment` runs that file as it is.
 */
import { required } from '../core/required';
import { ConfigError, formatPath } from './errors';
import { methodTraits, METHODS, type MethodConfig } from './methods';
import { Name, Student, type ExperimentConfig, type ExperimentStudentConfig, type StudentConfig } from './schema';

/** A student as the engine trains it (src/engine/commands.ts `EngineStudent`). */
export type PlannedStudent = StudentConfig & {
  candidate?: { group: string; overrides: Record<string, unknown> };
  /** Its place in the plan when a labels twin before it is left out of the engine's list: what seeds it. */
  position?: number;
};

export interface CandidateGroup {
  /** The experiment's student that expanded. */
  name: string;
  auto: boolean;
  candidates: { name: string; overrides: Record<string, unknown> }[];
}

export interface StudentPlan {
  /** What the engine trains, in order: candidates in their groups' places, added baselines last. */
  students: PlannedStudent[];
  groups: CandidateGroup[];
  /** Names of the labels-trained students added for the verdict (evaluate.baselines). */
  addedBaselines: string[];
}

/** auto's candidates, in order: the labels student first, the reference every other candidate is tested against. */
export const AUTO_CANDIDATES: Record<'classification' | 'regression', MethodConfig[]> = {
  classification: [
    { type: 'hard-labels' },
    { type: 'soft-targets', temperature: 2, alpha: 0.9, standardizeLogits: false },
    { type: 'soft-targets', temperature: 4, alpha: 0.9, standardizeLogits: false },
    { type: 'soft-targets', temperature: 8, alpha: 0.9, standardizeLogits: false },
    { type: 'soft-targets', temperature: 4, alpha: 0.9, standardizeLogits: true },
    { type: 'dkd', alpha: 1, beta: 8, temperature: 4, warmupEpochs: 5, labelWeight: 1, standardizeLogits: false },
  ],
  regression: [
    { type: 'targets' },
    { type: 'regression-distillation', targetWeight: 0 },
    { type: 'regression-distillation', targetWeight: 0.5 },
  ],
};

/**
 * Expands sweeps and `auto`, and adds the verdict's baselines. `keep` (group → candidate name; k-fold selection has
 * chosen already) leaves only that candidate of each group it names, under the name it had in the full expansion.
 */
export function planStudents(config: ExperimentConfig, keep?: ReadonlyMap<string, string>): StudentPlan {
  const students: PlannedStudent[] = [];
  const groups: CandidateGroup[] = [];
  config.students.forEach((student, index) => {
    const candidates = expandStudent(student, index, config);
    const [only] = candidates;
    if (only !== undefined && candidates.length === 1 && student.method.type !== 'auto') {
      students.push(only.student);
      return;
    }
    const group: CandidateGroup = { name: student.name, auto: student.method.type === 'auto', candidates: [] };
    candidates.forEach(({ student: candidate, overrides }, k) => {
      const name = candidateName(student.name, k + 1, index);
      const kept = keep?.get(student.name);
      if (kept !== undefined && kept !== name) return;
      students.push({ ...candidate, name, candidate: { group: student.name, overrides } });
      group.candidates.push({ name, overrides });
    });
    groups.push(group);
  });
  const addedBaselines = config.evaluate.baselines ? addBaselines(students, config) : [];
  const taken = new Set([config.teacher.name, ...config.students.map((s) => s.name)]);
  students.forEach((student, index) => {
    if (student.candidate && taken.has(student.name)) {
      throw fail(
        `students[${index}].name`,
        `the sweep names a candidate '${student.name}', which another model already has; rename one`,
      );
    }
  });
  return { students, groups, addedBaselines };
}

interface Expanded {
  student: StudentConfig;
  overrides: Record<string, unknown>;
}

function expandStudent(student: ExperimentStudentConfig, index: number, config: ExperimentConfig): Expanded[] {
  const methods: (MethodConfig | null)[] = student.method.type === 'auto' ? AUTO_CANDIDATES[config.data.task] : [null];
  const grid = gridCombinations(config.sweep ?? {});
  const expanded: Expanded[] = [];
  const seen = new Set<string>();
  for (const method of methods) {
    for (const combination of grid) {
      const overrides = method ? { method, ...combination } : combination;
      const candidate = applyOverrides(student, method, combination, index);
      const key = JSON.stringify([candidate.model, candidate.method, candidate.training]);
      if (seen.has(key)) continue; // e.g. hard-labels under a temperature sweep: one candidate, not three
      seen.add(key);
      expanded.push({ student: candidate, overrides });
    }
  }
  return expanded;
}

/** Every combination of the grid, in its key order (the first key varies slowest). */
export function gridCombinations(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>(
    (combinations, [key, values]) =>
      combinations.flatMap((combination) => values.map((value) => ({ ...combination, [key]: value }))),
    [{}],
  );
}

/**
 * One candidate: the student with the combination's fields set. Setting an object's `type` (e.g. `method.type`)
 * starts that object afresh, from the combination's fields alone, since another type's options do not carry over
 * (soft-targets' alpha is not DKD's alpha). A method field the candidate's method does not have is left out for it,
 * but a field no swept method has is an error (a typo).
 */
function applyOverrides(
  student: ExperimentStudentConfig,
  autoMethod: MethodConfig | null,
  combination: Record<string, unknown>,
  index: number,
): StudentConfig {
  const draft = structuredClone({
    model: student.model,
    method: autoMethod ?? student.method,
    training: student.training,
  }) as Record<string, unknown>;
  const entries = Object.entries(combination);
  // Types first, so that an object set afresh then receives the other fields.
  for (const [key, value] of [
    ...entries.filter(([k]) => k.endsWith('.type')),
    ...entries.filter(([k]) => !k.endsWith('.type')),
  ]) {
    const path = key.split('.');
    if (path.at(-1) === 'type') setPath(draft, path.slice(0, -1), { type: value });
    else setPath(draft, path, value);
  }
  const method = draft.method as Record<string, unknown>;
  const known = methodFields(String(method.type));
  if (known) {
    // Fields of other methods (set by the sweep for them) are dropped; a field of no method is an error.
    const foreign = Object.keys(method).filter((key) => key !== 'type' && !known.has(key));
    for (const key of foreign) {
      if (!anyMethodHas(key)) {
        throw fail(`sweep["method.${key}"]`, `no method has a field '${key}'`);
      }
    }
    draft.method = Object.fromEntries(Object.entries(method).filter(([key]) => !foreign.includes(key)));
  }
  const parsed = Student.safeParse({ name: student.name, ...draft });
  if (!parsed.success) {
    const issue = required(parsed.error.issues[0], 'the first issue of a failed parse');
    const field = issue.code === 'unrecognized_keys' ? [...issue.path, ...issue.keys.slice(0, 1)] : issue.path;
    const key = field.map(String).join('.');
    const message = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
    throw fail(
      `sweep["${key}"]`,
      `students[${index}] with ${JSON.stringify(combination)}: ${formatPath(field)}: ${message}`,
    );
  }
  return parsed.data;
}

const fail = (path: string, message: string): ConfigError => new ConfigError([{ path, message }]);

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    node[key] = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...next } : {};
    node = node[key] as Record<string, unknown>;
  }
  node[required(path.at(-1), 'the last key of a path')] = value;
}

const METHOD_FIELDS = new Map(
  METHODS.map((schema) => [schema.shape.type.value as string, new Set(Object.keys(schema.shape))]),
);
function methodFields(type: string): Set<string> | undefined {
  return METHOD_FIELDS.get(type);
}
/** Whether a method field exists in any method the sweep can reach (a misspelt field exists in none). */
function anyMethodHas(key: string): boolean {
  return [...METHOD_FIELDS.values()].some((fields) => fields.has(key));
}

function candidateName(student: string, k: number, index: number): string {
  const name = `${student}-${k}`;
  if (!Name.safeParse(name).success) {
    throw fail(
      `students[${index}].name`,
      `'${student}' is too long to name its sweep candidates (<name>-${k}); shorten it`,
    );
  }
  return name;
}

/** The labels-trained student a distilled one is judged against: the same model, trained with no teacher. */
export function isLabelsTrained(student: { method: MethodConfig }): boolean {
  return !methodTraits(student.method.type).needsTeacher;
}

/**
 * The labels-trained candidates that another student of the plan already is: a labels-trained student that is no
 * candidate, with the same model, method and training (compared as parsed, every default filled). Such a candidate
 * is not trained on its own; that student stands for it (its validation rows decide, its ONNX is what a group that
 * keeps it ships), so that "auto kept the labels student" means that very student, not a second training of it.
 * Returns candidate name → student name.
 */
export function labelsTwins(plan: StudentPlan): Map<string, string> {
  const labelsStudents = plan.students.filter((student) => !student.candidate && isLabelsTrained(student));
  const twins = new Map<string, string>();
  for (const candidate of plan.students) {
    if (!candidate.candidate || !isLabelsTrained(candidate)) continue;
    const twin = labelsStudents.find((student) => sameTraining(student, candidate));
    if (twin) twins.set(candidate.name, twin.name);
  }
  return twins;
}

/**
 * What the engine trains: the plan without its labels twins. Each student keeps the seed of its place in the plan
 * (the engine seeds by position, python/distillery/pipeline.py), so leaving a twin out shifts no one's seed.
 */
export function engineStudents(plan: StudentPlan): PlannedStudent[] {
  const twins = labelsTwins(plan);
  return plan.students.flatMap((student, position) => {
    if (twins.has(student.name)) return [];
    return [twins.size > 0 ? { ...student, position } : student];
  });
}

function sameTraining(a: StudentConfig, b: StudentConfig): boolean {
  return canonical([a.model, a.method, a.training]) === canonical([b.model, b.method, b.training]);
}

/** JSON with every object's keys sorted: two parsed configs compare equal whatever order their keys came in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : inner,
  );
}

function sameModel(a: StudentConfig, b: StudentConfig): boolean {
  return JSON.stringify(a.model) === JSON.stringify(b.model);
}

/** For each distilled student whose architecture no labels-trained student shares, one `<name>-labels` (once per architecture). */
function addBaselines(students: PlannedStudent[], config: ExperimentConfig): string[] {
  const added: string[] = [];
  const taken = new Set([config.teacher.name, ...students.map((s) => s.name)]);
  for (const student of [...students]) {
    if (isLabelsTrained(student) || students.some((other) => isLabelsTrained(other) && sameModel(other, student)))
      continue;
    const base = student.candidate?.group ?? student.name;
    let name = `${base}-labels`;
    for (let k = 2; taken.has(name); k++) name = `${base}-labels-${k}`;
    if (!Name.safeParse(name).success) {
      throw fail(
        'evaluate.baselines',
        `cannot name the labels baseline of '${base}' (too long); shorten the student's name`,
      );
    }
    const method: MethodConfig = config.data.task === 'regression' ? { type: 'targets' } : { type: 'hard-labels' };
    students.push({ name, model: student.model, method, training: student.training });
    taken.add(name);
    added.push(name);
  }
  return added;
}
