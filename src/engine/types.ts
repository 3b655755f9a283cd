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

export type EpochMetrics = z.output<typeof EpochMetricsSchema>;
export type EpochRecord = z.output<typeof EpochRecordSchema>;
export type FinalMetrics = z.output<typeof FinalMetricsSchema>;
export type ExportResult = z.output<typeof ExportResultSchema>;
export type ModelResult = z.output<typeof ModelResultSchema>;
export type ExperimentTrainResult = z.output<typeof ExperimentResultSchema>;
export type HelloResult = z.output<typeof HelloResultSchema>;
export type DoctorResult = z.output<typeof DoctorResultSchema>;
export type WriteSplitResult = z.output<typeof WriteSplitResultSchema>;
export type TeacherLoadOptions = z.output<typeof LoadOptionsSchema>;

export type Phase = 'teacher' | 'student';
export type EngineEvent = z.output<typeof EngineEventSchema>;
