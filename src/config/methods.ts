/**
 * The method registry's schema side: one entry per method — its options, and
 * its traits (does it need a teacher, does it need labels, which tasks it
 * serves) carried as zod metadata.
 *
 * The traits are written here and nowhere else: `npm run docs` copies them
 * into python/distillery/methods/contract.json, which the Python registry
 * reads, and a test keeps that file current. Adding a method is one entry
 * here and one module in python/distillery/methods/ (docs/ARCHITECTURE.md,
 * "Adding a method").
 */
import { z } from 'zod';

/** The tasks a method can train for. */
export type Task = 'classification' | 'regression';

/**
 * What a distillation method needs and supports, read from its registry entry: drives validation (a method that
 * needs a teacher without one is an error) and the docs.
 */
export interface MethodTraits {
  /** The loss reads the teacher's outputs: the student learns on the transfer set. */
  needsTeacher: boolean;
  /** The loss reads the labels: an unlabelled transfer set is an error. */
  needsLabels: boolean;
  /** The tasks the method supports. */
  tasks: readonly Task[];
}

const positive = (what = 'a number') =>
  z
    .number({ error: `expected ${what} > 0` })
    .refine((v) => Number.isFinite(v) && v > 0, { error: `expected ${what} > 0` });
const unitInterval = () =>
  z
    .number({ error: 'expected a number in [0, 1]' })
    .refine((v) => Number.isFinite(v) && v >= 0 && v <= 1, { error: 'expected a number in [0, 1]' });

/** One registry entry: `{ type: <name>, ...fields }`, strict, with its traits and description as metadata. */
function method<const Name extends string, Shape extends z.ZodRawShape>(
  name: Name,
  traits: MethodTraits,
  description: string,
  fields: Shape,
) {
  return z.strictObject({ type: z.literal(name), ...fields }).meta({ description, ...traits });
}

export const HardLabels = method(
  'hard-labels',
  { needsTeacher: false, needsLabels: true, tasks: ['classification', 'regression'] },
  'Cross-entropy on the labels: the baseline, no teacher (on regression data: L2 on the targets)',
  {},
);

export const Targets = method(
  'targets',
  { needsTeacher: false, needsLabels: true, tasks: ['regression', 'classification'] },
  'Regression baseline: L2 (or Huber) on the true targets, no teacher (on class labels: cross-entropy)',
  { huberDelta: positive().optional().describe('Huber instead of L2') },
);

const standardizeLogits = z
  .boolean()
  .default(false)
  .describe("Sun et al. 2024: each sample's teacher and student logits become (z - mean) / std before the temperature");

export const SoftTargets = method(
  'soft-targets',
  { needsTeacher: true, needsLabels: false, tasks: ['classification'] },
  'Hinton et al. 2015: alpha*T^2*KL(teacher_T || student_T) + (1 - alpha)*CE(student, labels); unlabelled: the soft term alone',
  {
    temperature: positive().default(20).describe('T: soft targets are softmax(z / T)'),
    alpha: unitInterval().default(0.9).describe('weight of the soft term; the hard term gets 1 - alpha'),
    standardizeLogits,
  },
);

export const Dkd = method(
  'dkd',
  { needsTeacher: true, needsLabels: true, tasks: ['classification'] },
  'Decoupled KD (Zhao et al., CVPR 2022): CE + warm-up * (alpha*TCKD + beta*NCKD) at temperature T; the non-target term masks the target logit',
  {
    alpha: z.number().nonnegative().default(1).describe('weight of TCKD, the target-vs-rest binary KL'),
    beta: z.number().nonnegative().default(8).describe('weight of NCKD, the KL among the non-target classes'),
    temperature: positive().default(4).describe('T'),
    warmupEpochs: z
      .number()
      .int()
      .nonnegative()
      .default(5)
      .describe('the KD terms ramp up linearly over these first epochs (0: none)'),
    labelWeight: z.number().nonnegative().default(1).describe('weight of cross-entropy on the labels'),
    standardizeLogits,
  },
);

export const LogitRegression = method(
  'logit-regression',
  { needsTeacher: true, needsLabels: false, tasks: ['classification'] },
  'Ba & Caruana 2014: mean squared error between student and teacher logits; needs no labels',
  {},
);

export const RegressionDistillation = method(
  'regression-distillation',
  { needsTeacher: true, needsLabels: false, tasks: ['regression'] },
  "Regression: L2 to the teacher's outputs, optionally mixed with the true targets",
  {
    targetWeight: unitInterval()
      .default(0)
      .describe("0: learn the teacher's predictions only; 1: the true targets only"),
    huberDelta: positive().optional().describe('Huber instead of L2'),
  },
);

export const Dist = method(
  'dist',
  { needsTeacher: true, needsLabels: false, tasks: ['classification'] },
  'DIST (Huang et al., NeurIPS 2022): T²·(beta·(1 − inter-class Pearson) + gamma·(1 − intra-class Pearson)) of softmax(z/T), ' +
    "plus labelWeight·CE on the labels when there are labels. Defaults: the paper's CIFAR-100 setting",
  {
    temperature: positive().default(4).describe('T: both distributions are softmax(z / T)'),
    beta: z
      .number()
      .nonnegative()
      .default(2)
      .describe("weight of the inter-class relation (each sample's class ranking)"),
    gamma: z
      .number()
      .nonnegative()
      .default(2)
      .describe('weight of the intra-class relation (each class across the batch)'),
    labelWeight: z
      .number()
      .nonnegative()
      .default(1)
      .describe('weight of cross-entropy on the labels (ignored without labels)'),
  },
);

export const Hints = method(
  'hints',
  { needsTeacher: true, needsLabels: false, tasks: ['classification'] },
  'FitNets (Romero et al. 2015), trained jointly as torchdistill does: hintWeight*MSE(connector(student layer), teacher layer) ' +
    "+ alpha*T^2*KL + (1 - alpha)*CE. A learned connector (linear, or 1x1 conv for feature maps) maps the student's layer to the " +
    "teacher's; it is not exported. The teacher runs online and must be a Distillery model (not ONNX)",
  {
    studentLayer: z
      .string()
      .min(1)
      .optional()
      .describe(
        "the student's hint layer, as named by the model's named_modules() (e.g. 'layers.3'); default: its penultimate features (the input of its last linear layer)",
      ),
    teacherLayer: z
      .string()
      .min(1)
      .optional()
      .describe("the teacher's guided layer, named the same way; default: its penultimate features"),
    hintWeight: z
      .number()
      .nonnegative()
      .default(1)
      .describe('weight of the hint term (mean squared error per feature)'),
    temperature: positive().default(4).describe('T of the soft term'),
    alpha: unitInterval()
      .default(0.9)
      .describe('weight of the soft term; CE on the labels gets 1 - alpha (unlabelled: soft term alone)'),
  },
);

/** Every method, in the order the docs list them. */
export const METHODS = [
  HardLabels,
  SoftTargets,
  LogitRegression,
  Dkd,
  Dist,
  Hints,
  RegressionDistillation,
  Targets,
] as const;

/**
 * The zod schema of a distillation method (`type`: hard-labels, soft-targets, logit-regression, dkd, dist, hints,
 * regression-distillation, targets), one registry entry each; their options are listed in docs/CONFIG.md.
 */
export const Method = z.discriminatedUnion('type', [...METHODS]);
/** A method after validation, every default filled ({@link Method}). */
export type MethodConfig = z.infer<typeof Method>;
/** The name of a registry method (`'soft-targets'`, `'dkd'`…). */
export type MethodName = MethodConfig['type'];

/**
 * `auto`: not a loss but a small built-in sweep (src/config/sweep.ts, AUTO_CANDIDATES): the same student trained on
 * the labels, with KD at a few temperatures, with logit-standardised KD and with DKD; the labels student is kept
 * unless a distilled one is significantly better on the same rows (src/experiment/selection.ts).
 */
export const AutoMethod = z
  .strictObject({ type: z.literal('auto') })
  .describe(
    'A built-in sweep: labels, soft-targets T 2/4/8, logit-standardised KD, DKD (regression: targets, ' +
      'regression-distillation at targetWeight 0 and 0.5). Keeps the labels student unless a distilled candidate is significantly ' +
      'better on the same rows — data.validation, or k-fold cross-validation over data.train when the validation split is small ' +
      '(evaluate.selection: paired exact test, Holm-adjusted, level 0.05)',
  );

/** What an experiment's student may name: a registry method, or `auto`. */
export const StudentMethod = z.discriminatedUnion('type', [...METHODS, AutoMethod]);
export type StudentMethodConfig = z.infer<typeof StudentMethod>;

/** A teacher trains on the labels: the methods that need no teacher. */
export const TeacherMethod = z.discriminatedUnion('type', [HardLabels, Targets]);

const TRAITS: ReadonlyMap<string, MethodTraits> = new Map(
  METHODS.map((schema) => {
    const meta = schema.meta() as unknown as MethodTraits;
    return [
      schema.shape.type.value,
      { needsTeacher: meta.needsTeacher, needsLabels: meta.needsLabels, tasks: meta.tasks },
    ];
  }),
);

/** The traits of a method, read from its schema entry. */
export function methodTraits(name: string): MethodTraits {
  const traits = TRAITS.get(name);
  if (!traits) throw new Error(`unknown method '${name}'`);
  return traits;
}

/** What python/distillery/methods/contract.json holds: every method's traits, by name. */
export function methodContract(): Record<string, MethodTraits> {
  return Object.fromEntries(TRAITS);
}
