/** Tables: CSV, TSV and JSON lines → encoded arrays for the engine (the encoding: src/preprocess/table.ts). */
import type { DataConfig, TableSourceConfig } from '../config/schema';
import type { Dataset } from '../eval/dataset';
import type { TablePreprocessSpec, TableRow } from '../preprocess/spec';
import type { PreparedData, Role } from './index';

export function prepareTables(_data: DataConfig, _tables: Array<[Role, TableSourceConfig]>, _dir: string): Promise<PreparedData> {
  return Promise.reject(new Error('table sources: not implemented yet'));
}

/** The rows of a .csv / .tsv / .jsonl file (optionally .gz), as the runtime takes them (CLI `predict`). */
export function readTableFile(_file: string): Promise<TableRow[]> {
  return Promise.reject(new Error('table files: not implemented yet'));
}

/**
 * A labelled table file encoded with a model's own preprocessing, for evaluation (CLI `eval --data rows.csv`):
 * its target column(s) become y — class indices into `labels` for classification, values for regression.
 */
export function tableDataset(_file: string, _spec: TablePreprocessSpec, _labels: readonly string[] | null): Promise<Dataset> {
  return Promise.reject(new Error('table files: not implemented yet'));
}
