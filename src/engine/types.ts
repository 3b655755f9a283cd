/** What the Python engine sends back: progress events and command results (camelCase, as in Python's JSON). */

export type Phase = 'teacher' | 'student';

/** Per-epoch metrics. Which keys appear depends on the task and on the data at hand. */
export interface EpochMetrics {
  loss: number;
  /** Loss terms: `hard`, `soft`, `mimic`, `targets` — whichever the method has. */
  hard?: number;
  soft?: number;
  mimic?: number;
  targets?: number;
  trainAccuracy?: number;
  testAccuracy?: number;
  testErrors?: number;
  testLoss?: number;
  /** Share of test samples where the student's top class is the teacher's. */
  testAgreement?: number;
  testRmse?: number;
  testRmseToTeacher?: number;
  validationAccuracy?: number;
  validationRmse?: number;
  lr: number;
  seconds: number;
  samplesPerSecond: number;
}

export type EngineEvent =
  | { event: 'phase-start'; phase: Phase; name: string; epochs: number; startEpoch: number; stepsPerEpoch: number; samples: number }
  | { event: 'step'; phase: Phase; name: string; epoch: number; epochs: number; step: number; stepsPerEpoch: number; loss: number }
  | { event: 'epoch'; phase: Phase; name: string; epoch: number; epochs: number; metrics: EpochMetrics }
  | { event: 'phase-end'; phase: Phase; name: string; seconds: number; metrics: Partial<EpochMetrics> }
  | { event: 'log'; message: string };

export interface EpochRecord extends EpochMetrics {
  epoch: number;
}

export interface ExportResult {
  path: string;
  sizeBytes: number;
  sha256: string;
  parityMaxAbsDiff: number;
  /** null when the file was not exported by us (a black-box teacher, copied). */
  opset: number | null;
}

/** A trained (or loaded) model: its checkpoint, size, cost and training history. */
export interface TrainResult {
  name: string;
  role: 'teacher' | 'student';
  method: Record<string, unknown> | null;
  checkpoint: string;
  params: number;
  /** null for black-box (ONNX) teachers. */
  flopsPerSample: number | null;
  trainSeconds: number;
  history: EpochRecord[];
  /** How the runtime must load a black-box teacher's .onnx (input name, sample shape, output kind, normalisation). */
  loadOptions?: Record<string, unknown>;
  metrics: Partial<EpochRecord>;
  device: string;
  teacher?: { name: string; sha256: string; outputs: 'cached' | 'online' } | null;
  /** Present once exported (run_experiment). */
  export?: ExportResult;
  onnx?: string;
}

export interface HelloResult {
  distillery: string;
  python: string;
  executable: string;
  torch: string;
  cuda: boolean;
  pid: number;
}

export interface DoctorResult extends HelloResult {
  cudaDevices: string[];
  threads: number;
  numpy: string | null;
  onnx: string | null;
  onnxscript: string | null;
  onnxruntime: string | null;
}

export interface ExperimentTrainResult {
  device: string;
  torch: string;
  testData: string;
  teacher: TrainResult & { export: ExportResult; onnx: string };
  students: Array<TrainResult & { export: ExportResult; onnx: string }>;
}

export interface WriteSplitResult {
  path: string;
  n: number;
  sampleShape: number[];
}

/** The engine's commands: request type → result type. */
export interface Commands {
  hello: { request: Record<string, never>; result: HelloResult };
  doctor: { request: Record<string, never>; result: DoctorResult };
  train_teacher: { request: Record<string, unknown>; result: TrainResult };
  distill: { request: Record<string, unknown>; result: TrainResult };
  export: { request: Record<string, unknown>; result: ExportResult };
  write_split: { request: Record<string, unknown>; result: WriteSplitResult };
  run_experiment: { request: Record<string, unknown>; result: ExperimentTrainResult };
}
export type CommandName = keyof Commands;
