/** The types the data layer's modules share: kept apart from index.ts so that images.ts and table.ts need not import it back. */
import type { z } from 'zod';
import type { EngineData } from '../engine/commands';
import type { TextSummary } from './text';

export type EngineDataConfig = z.input<typeof EngineData>;

/** What the run's report says about the data it prepared. */
export interface DataSummary {
  /** What the data were: arrays used as given, a table encoded, or a folder of images decoded. */
  kind: 'arrays' | 'table' | 'images';
  /** Rows (or images) per split, after encoding. */
  rows: Record<string, number>;
  /** Images skipped as unreadable (`onError: 'skip'`), per split. */
  skipped: Record<string, number>;
  /** What reading the data found doubtful (a categorical column with nearly one value per row), for the report. */
  warnings?: string[];
  /** What reading the data decided and says (a column inferred as text), for the output and the report. */
  notes?: string[];
  /** The table's text column: its tokenizer, and per split the texts truncated and the empty ones. */
  text?: TextSummary;
}

export interface PreparedData {
  data: EngineDataConfig;
  summary: DataSummary;
  /** An image folder's files per split, in row order (absent for a split whose unreadable images were skipped). */
  files?: Partial<Record<Role, string[]>>;
}

/** A split of the data, by the data config's field that gives it. */
export type Role = 'train' | 'test' | 'transfer' | 'validation';
