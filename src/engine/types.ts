/**
 * What the Python engine sends back: progress events and command results. The
 * result types are derived from the zod schemas of the seam (./commands), so
 * they cannot drift from what is validated at run time.
 */
import { z } from 'zod';
import {
  DoctorResult as DoctorResultSchema,
  EngineEvent as EngineEventSchema,
  EpochMetrics as EpochMetricsSchema,
  EpochRecord as EpochRecordSchema,
  ExperimentResult as ExperimentResultSchema,
  ExportResult as ExportResultSchema,
  FinalMetrics as FinalMetricsSchema,
  HelloResult as HelloResultSchema,
  LoadOptions as LoadOptionsSchema,
  ModelResult as ModelResultSchema,
  WriteSplitResult as WriteSplitResultSchema,
} from './commands';

export type { CommandName, Commands } from './commands';

/**
 * One epoch's metrics as the engine reports them: the training loss and its terms, the learning rate, speed, and the
 * test and validation metrics of the task (accuracy, errors, NLL, agreement; or RMSE), when measured.
 */
export type EpochMetrics = z.output<typeof EpochMetricsSchema>;
/** {@link EpochMetrics} with the epoch's number (from 1): one entry of a model's history. */
export type EpochRecord = z.output<typeof EpochRecordSchema>;
/**
 * A model's final metrics: the kept epoch's record, or only test metrics for a teacher that was loaded, not trained.
 */
export type FinalMetrics = z.output<typeof FinalMetricsSchema>;
/**
 * An exported `.onnx` file: path, size, sha256, the largest difference from PyTorch's outputs in the parity check,
 * and the opset (null when the file was copied, not exported).
 */
export type ExportResult = z.output<typeof ExportResultSchema>;
/**
 * What {@link trainTeacher} and {@link distill} return for one model: its checkpoint and `.onnx` file, method and
 * teacher, size (params, FLOPs), per-epoch history, final metrics, task, labels and warnings.
 */
export type ModelResult = z.output<typeof ModelResultSchema>;
export type ExperimentTrainResult = z.output<typeof ExperimentResultSchema>;
/**
 * What the engine reports at start-up: the versions of Distillery, Python and torch, the interpreter, CUDA and pid.
 */
export type HelloResult = z.output<typeof HelloResultSchema>;
/**
 * What `distillery doctor` reports: the start-up facts, CUDA devices, threads, the versions of numpy, onnx and
 * onnxruntime, and the methods the Python registry knows.
 */
export type DoctorResult = z.output<typeof DoctorResultSchema>;
export type WriteSplitResult = z.output<typeof WriteSplitResultSchema>;
/**
 * How the runtime loads a black-box (ONNX) teacher: input and output names, sample shape, output kind and
 * normalisation, as passed to `OnnxModel.load` (`distillery/runtime`).
 */
export type TeacherLoadOptions = z.output<typeof LoadOptionsSchema>;

/** Which kind of model a progress event is about. */
export type Phase = 'teacher' | 'student';
/**
 * A progress event of an engine call, given to {@link CallOptions.onEvent}: `phase-start`, `step`, `epoch`,
 * `phase-end` or `log`; `event` tells which.
 */
export type EngineEvent = z.output<typeof EngineEventSchema>;
