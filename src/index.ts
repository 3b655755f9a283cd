/**
 * `distillery`: train a teacher, distil students, export them to ONNX.
 *
 * - `run(experiment)` runs a whole experiment (the same as `distillery run`);
 * - `trainTeacher()` and `distill()` are the single steps;
 * - `Engine` is the Python process behind them, to share between calls;
 * - the zod schemas and `experimentJsonSchema()` describe every option.
 *
 * Inference needs none of this: import `distillery/runtime`.
 */
export { run, type RunOptions, type RunReport, type ModelReport } from './experiment';
export {
  trainTeacher,
  distill,
  withEngine,
  ArraySource,
  type FacadeCallOptions,
  type FacadeDataInput,
  type TrainTeacherInput,
  type DistillInput,
  type ModelResult,
  type ArraySourceInput,
} from './facade';
export * from './config';
export * from './engine';
