/**
 * The image decoding — the one implementation, used to decode the engine's training images (src/data/images.ts)
 * and a service's encoded images in the runtime (`OnnxModel.predict(pngBuffer)`): decode (PNG, JPEG, WebP),
 * convert to `channels`, resize to `size` with `fit`, and lay the pixels out channel-first as uint8.
 */
import type { ImagePreprocessSpec } from './spec';

/** Whether the bytes start like a PNG, JPEG or WebP file (raw pixels never do). */
export function isEncodedImage(_bytes: Uint8Array): boolean {
  return false;
}

/** The image's pixels, [channels, height, width] uint8. Throws InputValidationError (or DatasetError with a file) when it is not a readable image. */
export function decodeImage(_spec: ImagePreprocessSpec, _bytes: Uint8Array, _where: string): Promise<Uint8Array> {
  return Promise.reject(new Error('image decoding: not implemented yet'));
}
