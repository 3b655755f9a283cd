/** Image folders and index files → decoded, resized arrays for the engine (the decoding: src/preprocess/image.ts). */
import type { DataConfig, ImagesSourceConfig } from '../config/schema';
import type { Dataset } from '../eval/dataset';
import type { ImagePreprocessSpec } from '../preprocess/spec';
import type { PreparedData, Role } from './index';

export function prepareImages(_data: DataConfig, _images: Array<[Role, ImagesSourceConfig]>, _dir: string): Promise<PreparedData> {
  return Promise.reject(new Error('image sources: not implemented yet'));
}

/** The image files at a path: the file itself, or every PNG/JPEG/WebP file under a folder, sorted (CLI `predict`). */
export function imageFiles(_path: string): Promise<string[]> {
  return Promise.reject(new Error('image files: not implemented yet'));
}

/**
 * A folder of labelled images (one subfolder per class, or an index .csv) decoded with a model's own
 * preprocessing, for evaluation (CLI `eval --data folder/`): subfolder names map to the model's labels.
 */
export function imageDataset(_path: string, _spec: ImagePreprocessSpec, _labels: readonly string[] | null): Promise<Dataset> {
  return Promise.reject(new Error('image files: not implemented yet'));
}
