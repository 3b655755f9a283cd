/**
 * The one typed seam between TypeScript and the Python engine.
 *
 * Every engine command has a zod request schema and a zod result schema. A
 * request is parsed (defaults filled) before it crosses the bridge, and Python
 * parses it once more into frozen dataclasses (python/distillery/spec.py) that
 * require every key zod fills; a result is validated when it arrives, so a
 * Python change that TypeScript does not know about fails loudly in the tests
 * instead of drifting. `Commands` and the result types are derived from here.
 */
import { z } from 'zod';
import { formatPath } from '../config/errors';
import { EngineContractError } from './errors';
import {
  Data,
  Device,
  EngineTeacher,
  ExportOptions,
  QuantizationMethod,
  Experiment,
  FileSource,
  FoldValidation,
  HuggingFaceOnnxTeacher,
  HuggingFaceTeacher,
  Method,
  MnistSource,
  Name,
  OnnxTeacher,
  PrecomputedTeacher,
  resolveTeacherCheckpoint,
  ShardsSource,
  SplitValidation,
  Student,
} from '../config/schema';
import { Preprocess } from '../preprocess/spec';

// ------------------------------------------------------------ results

const count = z.number().int().nonnegative();

/**
 * The metrics of one epoch. Split metrics are `<split><Metric>` with the same metric names everywhere
 * (report.json's `test` block uses them unprefixed): accuracy, errors, nll, agreement, rmse, rmseToTeacher.
 * With a validation split an epoch is measured on validation alone and the test split is read once, for the final
 * model ({@link FinalMetrics}); without one, every epoch is measured on the test split.
 */
export const EpochMetrics = z.strictObject({
  loss: z.number().describe('the training loss, averaged over the epoch'),
  terms: z.record(z.string(), z.number()).describe("the loss's named parts (the method's terms: soft, hard, mimic, …)"),
  trainAccuracy: z.number().optional(),
  testAccuracy: z.number().optional(),
  testErrors: count.optional(),
  testNll: z.number().optional(),
  testAgreement: z.number().optional().describe("share of test samples where the student's top class is the teacher's"),
  testRmse: z.number().optional(),
  testRmseToTeacher: z.number().optional(),
  validationAccuracy: z.number().optional(),
  validationErrors: count.optional(),
  validationNll: z.number().optional(),
  validationAgreement: z
    .number()
    .optional()
    .describe("share of validation samples where the student's top class is the teacher's"),
  validationRmse: z.number().optional(),
  validationRmseToTeacher: z.number().optional(),
  lr: z.number(),
  seconds: z.number(),
  samplesPerSecond: z.number(),
});
export const EpochRecord = EpochMetrics.extend({ epoch: z.number().int().positive() });
/**
 * A model's final metrics: the kept epoch's record (with a validation split, plus its test metrics, read once at the
 * end), or only test metrics for a teacher that was loaded, not trained.
 */
export const FinalMetrics = EpochRecord.partial();

export const ExportResult = z.strictObject({
  path: z.string(),
  sizeBytes: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  parityMaxAbsDiff: z.number(),
  /** null when the file was not exported by us (a black-box teacher, copied). */
  opset: z.number().int().nullable(),
});

export const TeacherProvenance = z.strictObject({
  name: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  outputs: z.enum(['cached', 'online']),
});

/** What the runtime needs to load a black-box teacher's .onnx (see OnnxModel.load). */
export const LoadOptions = z.strictObject({
  inputName: z.string(),
  outputName: z.string(),
  sampleShape: z.array(z.number().int().positive()),
  outputKind: z.enum(['logits', 'probabilities']),
  normalization: z.strictObject({ mean: z.array(z.number()), std: z.array(z.number()) }).nullable(),
});

/**
 * The accuracy guard of a variant in an experiment (python/distillery/guard.py): both files run in onnxruntime on
 * data.validation, or on a sample of data.train when there is none; never the test split.
 */
export const VariantGuard = z.strictObject({
  split: z.enum(['validation', 'train']),
  rows: count,
  fp32Accuracy: z.number().min(0).max(1),
  accuracy: z.number().min(0).max(1),
  /** Percentage points below the float32 model (negative: above). */
  dropPoints: z.number(),
  /** export.maxAccuracyDrop. */
  maxDropPoints: z.number().nonnegative(),
  rejected: z.boolean(),
});

/** One int8 or fp16 variant of an exported model (python/distillery/quantize.py). */
export const QuantizeResult = z.strictObject({
  method: QuantizationMethod,
  path: z.string(),
  sizeBytes: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Its size over the fp32 file's. */
  sizeRatio: z.number().positive(),
  /** Rows the int8-static ranges were calibrated on; null for the other methods. */
  calibrationRows: count.nullable(),
  /** In an experiment, for classifiers: the accuracy guard; absent from `distillery quantize`. */
  guard: VariantGuard.optional(),
});

/**
 * How much of a text model's vocabulary its word-vector file covered (python/distillery/vectors.py, `model.vectors`).
 */
export const VectorCoverage = z.strictObject({
  /** The model's `vectors` block, e.g. `students[0].model.vectors`, `teacher.members[1].model.vectors`. */
  field: z.string(),
  /** The word-vector file. */
  path: z.string(),
  format: z.enum(['glove', 'word2vec']),
  /** The vectors' dimension (the embedding width). */
  dim: z.number().int().positive(),
  /** true: the embedding table was not trained. */
  freeze: z.boolean(),
  /** Tokens that may take a vector: the tokenizer's vocabulary less its special tokens. */
  vocabulary: count,
  /** Tokens that took one. */
  matched: count,
  /** Of those, tokens matched in another casing. */
  lowercased: count,
  /** matched / vocabulary. */
  share: z.number().min(0).max(1),
  /** data.train's token occurrences (pads left out). */
  trainTokens: count,
  /** The share of them whose token took a vector ([UNK] counts as without one). */
  trainShare: z.number().min(0).max(1),
  /** The most frequent tokens of data.train without a vector (at most 10). */
  missing: z.array(z.string()),
});

/** A trained (or loaded) model: checkpoint, size, cost, history, and its .onnx once exported. */
export const ModelResult = z.strictObject({
  name: Name,
  role: z.enum(['teacher', 'student']),
  /** The loss it was trained with; null for a teacher that was loaded, assembled or is a black box. */
  method: Method.nullable(),
  /** The teacher a student learnt from; null for teachers and label-trained students. */
  teacher: TeacherProvenance.nullable(),
  /** The .pt checkpoint; for a black-box teacher, its .onnx file. */
  checkpoint: z.string(),
  params: count,
  /** null for black-box (ONNX) teachers. */
  flopsPerSample: count.nullable(),
  trainSeconds: z.number().nonnegative(),
  history: z.array(EpochRecord),
  metrics: FinalMetrics,
  device: z.string(),
  task: z.enum(['classification', 'regression']),
  inputShape: z.array(z.number().int().positive()),
  numOutputs: z.number().int().positive(),
  labels: z.array(z.string()),
  loadOptions: LoadOptions.nullable(),
  /** What the user should know about the data (e.g. test classes that training never shows); said in the report. */
  warnings: z.array(z.string()),
  /** The exported file; null when `export: false`. */
  onnx: z.string().nullable(),
  export: ExportResult.nullable(),
  /** The student's int8 / fp16 variants (`export.quantize`); absent when none were asked for. */
  variants: z.array(QuantizeResult).optional(),
  /** A student trained with a validation split: its kept epoch's predictions on those rows, {@link ValidationPredictions}. */
  validationPredictions: z.string().optional(),
  /**
   * 'texts': a teacher that reads raw texts with its own tokenizer (a Hugging Face folder, or a checkpoint whose
   * tokenizer is not the data's): not exported, its test metrics are the engine's. Absent for every other model.
   */
  inputs: z.enum(['texts', 'outputs']).optional(),
  /**
   * Such a teacher's outputs on the test rows, in their order (`results/<name>.test-outputs.json`,
   * zod `TestOutputs`): what the report measures it, and its students' agreement with it, from. Absent otherwise.
   */
  testOutputs: z.string().optional(),
  /** Text models started from word vectors (`model.vectors`): the coverage, one entry per model (an ensemble's members). */
  vectors: z.array(VectorCoverage).optional(),
});

/**
 * `results/<name>.validation.json`: a student's kept epoch on the validation rows, row by row, in the split's order —
 * the evidence sweeps and auto compare candidates on (paired tests on the same rows, src/experiment/selection.ts).
 */
export const ValidationPredictions = z.strictObject({
  rows: count,
  /** Class indices (classification) or one list of values per row (regression). */
  prediction: z.union([z.array(z.number().int()), z.array(z.array(z.number()))]),
  /** The same shape: the rows' labels or targets. */
  target: z.union([z.array(z.number().int()), z.array(z.array(z.number()))]),
});

/**
 * `results/<name>.test-outputs.json`: a text teacher's outputs on the test rows, in the split's order: a classifier's
 * class probabilities, or a regression model's values.
 */
export const TestOutputs = z.union([
  z.strictObject({ rows: count, probabilities: z.array(z.array(z.number())) }),
  z.strictObject({ rows: count, values: z.array(z.array(z.number())) }),
]);

/** How a distributed run ran (null: one process). `batch: 'global'`: training.batchSize was the global batch. */
export const DistributedInfo = z.strictObject({
  worldSize: z.number().int().positive(),
  backend: z.enum(['gloo', 'nccl']),
  nodes: z.number().int().positive(),
  batch: z.literal('global'),
});

export const ExperimentResult = z.strictObject({
  device: z.string(),
  torch: z.string(),
  testData: z.string(),
  teacher: ModelResult,
  students: z.array(ModelResult),
  warnings: z.array(z.string()),
  distributed: DistributedInfo.nullable(),
});

export const HelloResult = z.strictObject({
  distillery: z.string(),
  python: z.string(),
  executable: z.string(),
  torch: z.string(),
  cuda: z.boolean(),
  pid: z.number().int(),
});

export const DoctorResult = HelloResult.extend({
  cudaDevices: z.array(z.string()),
  threads: z.number().int(),
  numpy: z.string().nullable(),
  onnx: z.string().nullable(),
  onnxscript: z.string().nullable(),
  onnxruntime: z.string().nullable(),
  methods: z.array(z.string()).describe("the Python registry's methods"),
});

/** The tokenizer `fit_tokenizer` wrote (python/distillery/tokenizer.py). */
export const FitTokenizerResult = z.strictObject({
  path: z.string().describe('the tokenizer.json written (outPath)'),
  vocabSize: z.number().int().positive().describe('its vocabulary, added tokens included'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .describe("the file's bytes' sha256 (the preprocess spec's tokenizerSha256)"),
  padId: count.describe('the id that pads token slots ([PAD] = 0 for a trained tokenizer)'),
  unkId: count.nullable().describe('the unknown token ([UNK] = 1 for a trained tokenizer); null when it has none'),
  model: z.string().nullable().describe("the tokenizer.json's model type: WordPiece, BPE, Unigram, WordLevel, …"),
});

export const WriteSplitResult = z.strictObject({
  path: z.string(),
  n: count,
  sampleShape: z.array(z.number().int().positive()),
});

// ------------------------------------------------------------ progress events

const Phase = z.enum(['teacher', 'student']);
/** Progress events, validated on arrival like results. */
export const EngineEvent = z.discriminatedUnion('event', [
  z.strictObject({
    event: z.literal('phase-start'),
    phase: Phase,
    name: z.string(),
    epochs: z.number(),
    startEpoch: z.number(),
    stepsPerEpoch: z.number(),
    samples: z.number(),
  }),
  z.strictObject({
    event: z.literal('step'),
    phase: Phase,
    name: z.string(),
    epoch: z.number(),
    epochs: z.number(),
    step: z.number(),
    stepsPerEpoch: z.number(),
    loss: z.number(),
  }),
  z.strictObject({
    event: z.literal('epoch'),
    phase: Phase,
    name: z.string(),
    epoch: z.number(),
    epochs: z.number(),
    metrics: EpochMetrics,
  }),
  z.strictObject({
    event: z.literal('phase-end'),
    phase: Phase,
    name: z.string(),
    seconds: z.number(),
    metrics: FinalMetrics,
  }),
  z.strictObject({ event: z.literal('log'), message: z.string() }),
]);

// ------------------------------------------------------------ requests

/**
 * Data as the engine takes it: arrays on disk (the embedded MNIST, or .npz/.npy files). Tables and image
 * folders are encoded by TypeScript first (src/data: `prepareData`), which records their encoding in
 * `preprocess`; the engine stores it in every model it exports and never applies it.
 */
const EngineSource = z.discriminatedUnion('type', [MnistSource, FileSource]);
const EngineTrainingSource = z.discriminatedUnion('type', [MnistSource, FileSource, ShardsSource]);
export const EngineData = Data.safeExtend({
  train: EngineTrainingSource.prefault({ type: 'mnist', split: 'train' }),
  test: EngineSource.prefault({ type: 'mnist', split: 'test' }),
  transfer: EngineTrainingSource.optional(),
  validation: z.discriminatedUnion('type', [MnistSource, FileSource, SplitValidation, FoldValidation]).optional(),
  preprocess: Preprocess.nullable()
    .default(null)
    .describe('how raw inputs become these arrays (src/preprocess), recorded in the models'),
  tokenizerFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      "the tokenizer.json of the preprocess spec's text column (its sha256 must be the column's tokenizerSha256); every model carries it in its metadata (distillery.tokenizer)",
    ),
  transferOrigin: z
    .string()
    .min(1)
    .optional()
    .describe(
      'an .npy of int64, one per data.transfer row: the data.train row it was made from (an augmented transfer set); rows made from rows held out for validation are left out',
    ),
  texts: z
    .strictObject({
      train: z.string().min(1),
      test: z.string().min(1),
      transfer: z.string().min(1).optional(),
      validation: z.string().min(1).optional(),
    })
    .optional()
    .describe(
      "a text column's raw cells per split: JSONL, one JSON string per row in row order ('' when missing), for a teacher with its own tokenizer (src/data/table.ts writes data/<role>-texts.jsonl)",
    ),
  teacherOutputs: z
    .strictObject({
      train: z.string().min(1).optional(),
      test: z.string().min(1).optional(),
      transfer: z.string().min(1).optional(),
      validation: z.string().min(1).optional(),
    })
    .optional()
    .describe(
      "a called teacher's answers per split (src/teacher): .npy files row for row with the split's source rows, float32 [rows, outputs] (probabilities or logits) or int64 [rows] (class indices); a 'precomputed' teacher reads them",
    ),
  maskToken: z
    .string()
    .min(1)
    .optional()
    .describe(
      "the string that stands for a masked word in data.transfer's texts (the data tokenizer's unknown token); a teacher with its own tokenizer reads its mask token there, else its unknown token",
    ),
});

const ExportOrNot = z
  .union([ExportOptions, z.literal(false)])
  .prefault({})
  .describe('export to ONNX (false: checkpoint only)');
const runFields = {
  data: EngineData.prefault({}),
  outDir: z.string().min(1, { error: 'expected a folder path' }),
  device: Device.default('auto'),
  seed: z.number().int().nonnegative().default(0),
  resume: z
    .boolean()
    .default(false)
    .describe('keep finished models in outDir and continue an unfinished one from its last epoch'),
};

export const TrainTeacherRequest = z
  .strictObject({ ...runFields, export: ExportOrNot, teacher: EngineTeacher })
  .overwrite(resolveTeacherCheckpoint);
export const DistillRequest = z.strictObject({
  ...runFields,
  export: ExportOrNot,
  /**
   * A teacher checkpoint (.pt), a black-box ONNX teacher, a Hugging Face ONNX folder, or a `huggingface` teacher that
   * train_teacher fine-tuned into this outDir (`checkpoints/<name>.hf`); absent for methods that need none.
   */
  teacher: z
    .union([z.string().min(1), OnnxTeacher, HuggingFaceOnnxTeacher, HuggingFaceTeacher, PrecomputedTeacher])
    .optional(),
  student: Student,
});
export const ExportRequest = z.strictObject({
  checkpoint: z.string().min(1),
  path: z.string().min(1),
  export: ExportOptions.prefault({}),
  /** Rows of this data's test split check the export's parity (default: random inputs). */
  data: EngineData.optional(),
});
export const QuantizeRequest = z.strictObject({
  model: z.string().min(1, { error: 'expected an .onnx path' }),
  method: QuantizationMethod.default('int8-static'),
  /** .npz (array x) or .npy of raw input rows; required by int8-static. */
  data: z.string().min(1).optional(),
  /** Where to write the variant (default: next to the model, `<name>.<method>.onnx`). */
  path: z.string().min(1).optional(),
});
export const WriteSplitRequest = z.strictObject({
  data: EngineData.prefault({}),
  split: z.enum(['train', 'test', 'transfer', 'validation']),
  path: z.string().min(1),
});
/**
 * A tokenizer for a text column: trained on data.train's texts (a JSONL file, one JSON string per line), or a user's
 * tokenizer.json checked and copied; written to `outPath`. Every field comes from the csv source's `text` options
 * (their defaults are there, not here).
 */
export const FitTokenizerRequest = z
  .strictObject({
    kind: z
      .enum(['wordpiece', 'bpe', 'unigram', 'file'])
      .describe("the subword model to train, or 'file': the user's tokenizer.json at `file`"),
    textsPath: z.string().min(1).optional().describe('the training texts, JSONL (required unless kind is file)'),
    file: z.string().min(1).optional().describe("the user's tokenizer.json (kind 'file')"),
    vocabSize: z.number().int().min(3, { error: 'expected a vocabulary of at least 3 tokens' }),
    lowercase: z.boolean().describe('BERT-like normalisation (NFD, lowercase, strip accents); false: NFC'),
    minFrequency: z
      .number()
      .int()
      .positive()
      .describe('a pair or word seen fewer times is not merged into the vocabulary'),
    outPath: z.string().min(1).describe('where the tokenizer.json is written'),
  })
  .refine((request) => (request.kind === 'file') === (request.file !== undefined), {
    error: "give `file` exactly when kind is 'file'",
    path: ['file'],
  })
  .refine((request) => request.kind === 'file' || request.textsPath !== undefined, {
    error: 'a tokenizer is trained on textsPath',
    path: ['textsPath'],
  });

/** A student as the engine trains it: a registry method (an `auto` student arrives expanded), and if a sweep made it, which. */
export const EngineStudent = Student.extend({
  candidate: z
    .strictObject({
      group: Name.describe('the experiment student it is a candidate for'),
      overrides: z.record(z.string(), z.unknown()).describe('the fields the sweep set, by dotted path'),
    })
    .optional()
    .describe(
      'a sweep candidate: trained without ever reading the test split; the validation split chooses between them',
    ),
  position: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe(
      "its place in the experiment's plan, which seeds it (seed + 1000 × (position + 1)); absent: its index here. Set when a student of the plan is not trained on its own (a labels twin, src/config/sweep.ts)",
    ),
});

/**
 * A whole experiment, as `run()` sends it: the parsed experiment file with its output folder, its students expanded.
 * Built from the experiment's fields (its cross-field checks ran when run() parsed the experiment), since `export`
 * may here also be false, which a safe extension cannot widen it to.
 */
export const ExperimentRequest = z
  .strictObject({
    ...Experiment.shape,
    teacher: EngineTeacher,
    students: z.array(EngineStudent).min(1),
    sweep: z.never().optional().describe('expanded into the students before the request is made (src/config/sweep.ts)'),
    export: ExportOrNot.describe(
      'false: checkpoints only (the fold runs of k-fold selection, src/experiment/folds.ts)',
    ),
    data: EngineData.prefault({}),
    outDir: z.string().min(1),
    resume: z.boolean().default(false),
  })
  .overwrite(resolveTeacherCheckpoint);
const Nothing = z.strictObject({});

// ------------------------------------------------------------ the table

/** Every engine command: its request and result schemas. python/distillery/api.py has the same names. */
export const COMMANDS = {
  hello: { request: Nothing, result: HelloResult },
  doctor: { request: Nothing, result: DoctorResult },
  train_teacher: { request: TrainTeacherRequest, result: ModelResult },
  distill: { request: DistillRequest, result: ModelResult },
  export: { request: ExportRequest, result: ExportResult },
  write_split: { request: WriteSplitRequest, result: WriteSplitResult },
  quantize: { request: QuantizeRequest, result: QuantizeResult },
  run_experiment: { request: ExperimentRequest, result: ExperimentResult },
  fit_tokenizer: { request: FitTokenizerRequest, result: FitTokenizerResult },
} as const;

export type CommandName = keyof typeof COMMANDS;
/** request: what a caller may write (defaults optional); result: what the engine returns, validated. */
export type Commands = {
  [C in CommandName]: {
    request: z.input<(typeof COMMANDS)[C]['request']>;
    result: z.output<(typeof COMMANDS)[C]['result']>;
  };
};

/** Validates what Python sent against its schema here: a mismatch is a bug on one side, named precisely. */
export function checked<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues
    .map((issue) => `${formatPath(issue.path) || '(root)'}: ${issue.message}`)
    .join('; ');
  throw new EngineContractError(`${what} does not match its schema (src/engine/commands.ts): ${issues}`);
}
