/**
 * report.json's shape: the run's report, each model's, each quantized variant's. Types only, apart from the code that
 * builds and renders them (report.ts, variants.ts), so that those modules need not import each other.
 */
import type { z } from 'zod';
import type { MethodConfig, ModelConfig } from '../config/schema';
import type { DataSummary } from '../data/types';
import type { ModelResult } from '../engine';
import type { DistributedInfo } from '../engine/commands';
import type { EpochRecord } from '../engine/types';
import type { ArtefactRole } from '../io/run-folder';
import type { TeacherLabelling } from '../teacher/label';
import type { SweepReport } from './selection';
import type { Verdict } from './verdict';

/** A classifier's metrics on the test split, as report.json records them. */
export interface ClassificationTest {
  /** Test samples. */
  n: number;
  /** Share of test samples classified correctly. */
  accuracy: number;
  /** Test samples classified wrongly. */
  errors: number;
  /** Mean negative log-likelihood of the true class. */
  nll: number;
  /** Expected calibration error. */
  ece: number;
  /** Top-k accuracy: the share of samples whose true class is among the k most probable. */
  topK: {
    /** How many of the most probable classes count. */
    k: number;
    /** Share of samples whose true class is among them. */
    accuracy: number;
  };
}
/** A regression model's metrics on the test split, as report.json records them. */
export interface RegressionTest {
  /** Test samples. */
  n: number;
  /** Root mean squared error, in the targets' units. */
  rmse: number;
  /** Mean absolute error, in the targets' units. */
  mae: number;
  /** Coefficient of determination. */
  r2: number;
}

/**
 * One model of a run (the teacher or a student) as report.json records it: what it is, its size, its test metrics
 * measured with the runtime on the exported file, latency, history and, for students, the verdict.
 */
export interface ModelReport {
  /** The model's name in the experiment. */
  name: string;
  /** Whether it is the run's teacher or one of its students. */
  role: 'teacher' | 'student';
  /** The method it was trained with; null for a teacher that was loaded, assembled or is a black box. */
  method: MethodConfig | null;
  /** Its architecture, as configured (or as recorded for a loaded teacher). */
  model: ModelConfig | Record<string, unknown>;
  /** Parameter count. */
  params: number;
  /** null when unknown (a black-box ONNX teacher). */
  flopsPerSample: number | null;
  /** The .onnx file, relative to the report's folder. */
  onnx: string;
  /** The `.onnx` file's size in bytes. */
  sizeBytes: number;
  /** The largest absolute difference between the ONNX file's outputs and PyTorch's, checked at export. */
  parityMaxAbsDiff: number;
  /**
   * Its metrics on the test split, measured with the runtime on the `.onnx` file (a teacher that reads raw texts:
   * {@link TeacherReport}).
   */
  test: ClassificationTest | RegressionTest;
  /** Share of test samples where the student's top class is the teacher's (students of classifiers). */
  agreementWithTeacher?: number;
  /**
   * Its speed in the runtime (batch-1 latency percentiles, batch-256 throughput); null when `evaluate.benchmark` is off.
   */
  latency: {
    /** Median latency of one-row predictions, in ms. */
    batch1P50Ms: number;
    /** 99th-percentile latency of one-row predictions, in ms. */
    batch1P99Ms: number;
    /** Rows per second in batches of 256. */
    batch256RowsPerS: number;
  } | null;
  /** Teacher's batch-1 p50 latency over this model's. */
  speedupOverTeacher?: number;
  /** Training time in seconds. */
  trainSeconds: number;
  /** Every epoch's metrics, in order. */
  history: EpochRecord[];
  /** Classifiers: the confusion matrix on the test split, `confusion[actual][predicted]`. */
  confusion?: number[][];
  /** A sweep candidate that was chosen on validation: the experiment student it stands for. */
  candidateOf?: string;
  /**
   * A kept candidate that is another student of the run (a labels twin: same model, method and training): that
   * student's report under the candidate's name — its ONNX file, its test results; never trained on its own.
   */
  sameAs?: string;
  /** Distilled students: the paired test against the same architecture trained on the labels. */
  verdict?: Verdict;
  /** A student's int8 / fp16 variants (export.quantize), each evaluated and guarded (src/experiment/variants.ts). */
  variants?: VariantReport[];
  /**
   * A text model started from word vectors (`model.vectors`): how much of its vocabulary, and of data.train's token
   * occurrences, they covered; one entry per model (an ensemble teacher's members each).
   */
  vectors?: NonNullable<ModelResult['vectors']>;
}

/**
 * The teacher's report: a {@link ModelReport}, except that a teacher that reads the raw texts with its own tokenizer
 * (`inputs: 'texts'`: a Hugging Face folder, or a checkpoint whose tokenizer is not the data's) has no `.onnx` here
 * (`onnx`, `sizeBytes`, `parityMaxAbsDiff` null) and no latency: the runtime cannot feed it the data's rows. Its test
 * metrics, and its students' agreement with it, are computed by the same functions from the class probabilities the
 * engine wrote for the same test rows (`results/<name>.test-outputs.json`).
 */
export type TeacherReport = Omit<ModelReport, 'onnx' | 'sizeBytes' | 'parityMaxAbsDiff' | 'test'> & {
  /**
   * Its metrics on the test split; null for a teacher given by its answers without answers on data.test (an outputs
   * file without `test`, or `evaluate: false`): nothing measured it there.
   */
  test: ModelReport['test'] | null;
  /** The .onnx file, relative to the report's folder; null for a teacher that reads raw texts or is given by answers. */
  onnx: string | null;
  /** The `.onnx` file's size in bytes; null without one. */
  sizeBytes: number | null;
  /** The export's parity check (or a black box's copy); null without an `.onnx`. */
  parityMaxAbsDiff: number | null;
  /**
   * 'texts': it reads the raw texts with its own tokenizer; 'outputs': a teacher you call, or a file of its outputs,
   * given to the engine as its answers (src/teacher). Absent for every other teacher.
   */
  inputs?: 'texts' | 'outputs';
  /** A teacher you call (or a file of its outputs): what answered, how many rows, calls and retries, the kind. */
  labelling?: TeacherLabelling;
  /** Such a teacher's model file, as the engine ran it, and its sha256: what its students record as their teacher. */
  source?: {
    /** The model file (a Hugging Face folder's .onnx or weights, or the checkpoint), as the engine ran it. */
    path: string;
    /** Its sha256, hex. */
    sha256: string;
  };
};

/**
 * A run's report.json: what ran where, the data, every model's results and verdicts, the sweeps, the artefacts.
 * What {@link run} returns.
 */
export interface RunReport {
  /** The experiment's name. */
  name: string;
  /** When the report was written (ISO time). */
  createdAt: string;
  /** The version of Distillery that ran it. */
  distillery: string;
  /** The device the engine trained on (`cpu`, `cuda:0`…). */
  device: string;
  /** The version of torch that trained the models. */
  torch: string;
  /** The experiment's seed. */
  seed: number;
  /** Wall time of the whole run, in seconds. */
  durationSeconds: number;
  /** CPU and memory of the machine that measured the latencies. */
  machine: string;
  /** The command line that started the run (`run()` when called from code without one). */
  command: string;
  /** The experiment's task. */
  task: 'classification' | 'regression';
  /** The encoded test split the models were evaluated on, relative to the run folder. */
  testData: string;
  /** How the data were prepared: arrays as given, or a table / image folder encoded (rows per split, images skipped). */
  data: DataSummary;
  /**
   * What the run noticed and did not stop for: the data (e.g. test classes that training never shows), a model that
   * learned nothing, a teacher not worth distilling (src/experiment/warnings.ts has each rule).
   */
  warnings: RunWarning[];
  /** Every file the run wrote, as its manifest.json lists them (there with sha256 and size). */
  artefacts: {
    /** Relative to the run folder, with `/`. */
    path: string;
    /** What the file is. */
    role: ArtefactRole;
  }[];
  /** The teacher's report. */
  teacher: TeacherReport;
  /**
   * Every student's report (of a sweep's candidates, only the chosen ones).
   */
  students: ModelReport[];
  /** Every sweep (and auto) group: its candidates' scores with their uncertainty, their paired tests against the
   * reference, the rule and evidence (validation or k-fold) that decided, and the one that was kept. */
  sweeps: SweepReport[];
  /** A distributed run: its ranks, backend and nodes; training.batchSize was the global batch. */
  distributed?: z.output<typeof DistributedInfo>;
}

/**
 * What a warning is about: `data` (the data as read: a test class training never shows, images skipped…),
 * `learned-nothing` (a model no better on the test set than a constant answer), `one-class` (a classifier that
 * answers one class for most test rows), `teacher-not-better` (a teacher not clearly better than the labels-trained
 * student on validation), `teacher-overfits` (a teacher far better on its training rows than on validation).
 */
export type WarningKind = 'data' | 'learned-nothing' | 'one-class' | 'teacher-not-better' | 'teacher-overfits';

/** One warning of a run: what the run noticed and did not stop for. */
export interface RunWarning {
  /** What the warning is about. */
  kind: WarningKind;
  /** The model it is about (a student or the teacher); absent for a warning about the data. */
  model?: string;
  /** The warning in words: what was seen, with its numbers, and what to do about it. */
  message: string;
}

/** One quantized variant as the engine reports it. */
export type Variant = NonNullable<ModelResult['variants']>[number];

/**
 * One int8 or fp16 variant of a student, as report.json records it: evaluated on the test split like its student, and
 * guarded against an accuracy drop.
 */
export interface VariantReport {
  /** `<student>.<method>`, as in its file name. */
  name: string;
  /** The quantization method. */
  method: Variant['method'];
  /** The .onnx file, relative to the report's folder. */
  onnx: string;
  /** The variant's file size in bytes. */
  sizeBytes: number;
  /** Its size over the float32 student's file. */
  sizeRatio: number;
  /** true: its file is no smaller than the float32 student's (sizeRatio ≥ 1), so it is no compression (variants.ts: notSmallerNote). */
  notSmaller: boolean;
  /** Rows the int8-static ranges were calibrated on; null for the other methods. */
  calibrationRows: number | null;
  /** Its metrics on the test split. */
  test: ClassificationTest | RegressionTest;
  /** Percentage points of test accuracy below the float32 student (negative: above); null for regression. */
  accuracyDropPoints: number | null;
  /** The guard's own measurement, on held-out rows that are not the test split; null for regression. */
  guard: Variant['guard'] | null;
  /** Share of test samples where the variant's top class is its float32 student's. */
  agreementWithFp32?: number;
  /** Its speed in the runtime; null when `evaluate.benchmark` is off. */
  latency: {
    /** Median latency of one-row predictions, in ms. */
    batch1P50Ms: number;
    /** 99th-percentile latency of one-row predictions, in ms. */
    batch1P99Ms: number;
    /** Rows per second in batches of 256. */
    batch256RowsPerS: number;
  } | null;
  /** true: lost more than export.maxAccuracyDrop points; listed in the report, never the student's default file. */
  rejected: boolean;
  /** Why it was rejected. */
  reason?: string;
}
