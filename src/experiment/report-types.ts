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
import type { SweepReport } from './selection';
import type { Verdict } from './verdict';

export interface ClassificationTest {
  n: number;
  accuracy: number;
  errors: number;
  nll: number;
  ece: number;
  topK: { k: number; accuracy: number };
}
export interface RegressionTest {
  n: number;
  rmse: number;
  mae: number;
  r2: number;
}

export interface ModelReport {
  name: string;
  role: 'teacher' | 'student';
  method: MethodConfig | null;
  model: ModelConfig | Record<string, unknown>;
  params: number;
  /** null when unknown (a black-box ONNX teacher). */
  flopsPerSample: number | null;
  /** The .onnx file, relative to the report's folder. */
  onnx: string;
  sizeBytes: number;
  parityMaxAbsDiff: number;
  test: ClassificationTest | RegressionTest;
  /** Share of test samples where the student's top class is the teacher's (students of classifiers). */
  agreementWithTeacher?: number;
  latency: { batch1P50Ms: number; batch1P99Ms: number; batch256RowsPerS: number } | null;
  /** Teacher's batch-1 p50 latency over this model's. */
  speedupOverTeacher?: number;
  trainSeconds: number;
  history: EpochRecord[];
  confusion?: number[][];
  /** A sweep candidate that was chosen on validation: the experiment student it stands for. */
  candidateOf?: string;
  /** Distilled students: the paired test against the same architecture trained on the labels. */
  verdict?: Verdict;
  /** A student's int8 / fp16 variants (export.quantize), each evaluated and guarded (src/experiment/variants.ts). */
  variants?: VariantReport[];
}

export interface RunReport {
  name: string;
  createdAt: string;
  distillery: string;
  device: string;
  torch: string;
  seed: number;
  durationSeconds: number;
  /** CPU and memory of the machine that measured the latencies. */
  machine: string;
  command: string;
  task: 'classification' | 'regression';
  testData: string;
  /** How the data were prepared: arrays as given, or a table / image folder encoded (rows per split, images skipped). */
  data: DataSummary;
  /** What the run noticed and did not stop for (e.g. test classes that training never shows). */
  warnings: string[];
  /** Every file the run wrote, as its manifest.json lists them (there with sha256 and size). */
  artefacts: Array<{ path: string; role: ArtefactRole }>;
  teacher: ModelReport;
  students: ModelReport[];
  /** Every sweep (and auto) group: its candidates' validation scores and which one was kept. */
  sweeps: SweepReport[];
  /** A distributed run: its ranks, backend and nodes; training.batchSize was the global batch. */
  distributed?: z.output<typeof DistributedInfo>;
}

/** One quantized variant as the engine reports it. */
export type Variant = NonNullable<ModelResult['variants']>[number];

export interface VariantReport {
  /** `<student>.<method>`, as in its file name. */
  name: string;
  method: Variant['method'];
  /** The .onnx file, relative to the report's folder. */
  onnx: string;
  sizeBytes: number;
  /** Its size over the float32 student's file. */
  sizeRatio: number;
  /** true: its file is no smaller than the float32 student's (sizeRatio ≥ 1), so it is no compression (variants.ts: notSmallerNote). */
  notSmaller: boolean;
  calibrationRows: number | null;
  test: ClassificationTest | RegressionTest;
  /** Percentage points of test accuracy below the float32 student (negative: above); null for regression. */
  accuracyDropPoints: number | null;
  /** The guard's own measurement, on held-out rows that are not the test split; null for regression. */
  guard: Variant['guard'] | null;
  /** Share of test samples where the variant's top class is its float32 student's. */
  agreementWithFp32?: number;
  latency: { batch1P50Ms: number; batch1P99Ms: number; batch256RowsPerS: number } | null;
  /** true: lost more than export.maxAccuracyDrop points; listed in the report, never the student's default file. */
  rejected: boolean;
  /** Why it was rejected. */
  reason?: string;
}
