/**
 * The image decoding — the one implementation, used to decode the engine's training images (src/data/images.ts)
 * and a service's encoded images in the runtime (`OnnxModel.predict(pngBuffer)`): decode (PNG, JPEG, WebP),
 * convert to `channels`, resize to `size` with `fit`, and lay the pixels out channel-first as uint8.
 *
 * The steps, all done by sharp (libvips), loaded on first use only:
 * 1. decode; a JPEG's EXIF orientation is applied (`autoOrient`); 16-bit images are reduced to 8 bits;
 * 2. transparency is flattened onto black (an opaque pixel keeps its colour, a transparent one becomes black);
 * 3. colour: channels 3 → sRGB (a grayscale image is repeated in R, G and B; CMYK is converted); channels 1 →
 *    libvips's B_W: the luminance Y = 0.2126 R + 0.7152 G + 0.0722 B computed in linear light and encoded back
 *    with the sRGB curve (pure red → 127, green → 220, blue → 76, a gray pixel keeps its value);
 * 4. resize to [H, W] with the Lanczos-3 kernel (sharp's default), centred: `fill` stretches, `contain`
 *    letterboxes with black bars, `cover` crops the overflow; an image of the target size is not resampled;
 * 5. out: uint8, [C, H, W] (sharp gives H×W×C interleaved; it is transposed).
 *
 * Node's half: the shared path comes first (src/preprocess/image-core.ts, also the browser's): a plain PNG that
 * already has the target size (8-bit grayscale or RGB, no alpha, palette or colour profile; src/preprocess/png.ts)
 * is read without sharp when there is nothing to convert or resample — its channels are
 * the target's, or gray is asked for as RGB (repeated), or RGB with R = G = B in every pixel as gray (that value)
 * — so the pixels are sharp's exactly (tests check each case against sharp), at many times sharp's rate for
 * 28×28 images.
 */
import type { Sharp, SharpOptions } from 'sharp';
import {
  channelFirst,
  concurrencyLimit,
  decodeImage as decodeImageWith,
  decodePixels as decodePixelsWith,
  ImageDecodeError,
  type PixelDecoder,
} from './image-core';
import type { ImagePreprocessSpec } from './spec';

/** Node's decoder: sharp, at most `maxConcurrency()` calls at once. */
export const sharpDecoder: PixelDecoder = (spec, bytes) => limited(() => decodeWithSharp(spec, bytes));

/** The image's pixels, [channels, height, width] uint8 (InputValidationError naming `where` for a bad image). */
export function decodeImage(spec: ImagePreprocessSpec, bytes: Uint8Array, where: string): Promise<Uint8Array> {
  return decodeImageWith(sharpDecoder, spec, bytes, where);
}

/**
 * The decoding behind decodeImage, throwing ImageDecodeError for a bad image. At most `maxConcurrency()`
 * sharp calls run at once, however many are asked for (a predictBatch of 10,000 images, a training folder).
 */
export function decodePixels(spec: ImagePreprocessSpec, bytes: Uint8Array): Promise<Uint8Array> {
  return decodePixelsWith(sharpDecoder, spec, bytes);
}

async function decodeWithSharp(spec: ImagePreprocessSpec, bytes: Uint8Array): Promise<Uint8Array> {
  const [height, width] = spec.size;
  let output: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    output = await pipeline(spec, bytes).toBuffer({ resolveWithObject: true });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ImageDecodeError(
      'unreadable',
      `corrupt, truncated or unsupported image: ${detail.split('\n')[0] ?? ''}`,
      {
        cause: error,
      },
    );
  }
  const { data, info } = output;
  if (
    info.width !== width ||
    info.height !== height ||
    info.channels !== spec.channels ||
    data.length !== width * height * spec.channels
  ) {
    // Not the user's fault: sharp did not do what the pipeline asks.
    throw new Error(
      `image decoding: expected ${spec.channels}×${height}×${width} bytes from sharp, got ${info.channels}×${info.height}×${info.width} (${data.length})`,
    );
  }
  return channelFirst(data, height * width, spec.channels);
}

function pipeline(spec: ImagePreprocessSpec, bytes: Uint8Array): Sharp {
  const [height, width] = spec.size;
  // failOn 'error' (not sharp's default 'warning'): a JPEG with a benign warning (extra bytes after its end) is
  // still a good image; a truncated or corrupt one is an error either way.
  const options: SharpOptions = { failOn: 'error' };
  return sharpModule()(bytes, options)
    .autoOrient()
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
    .resize({
      width,
      height,
      fit: spec.fit,
      position: 'centre',
      background: { r: 0, g: 0, b: 0, alpha: 1 },
      kernel: 'lanczos3',
    })
    .raw({ depth: 'uchar' });
}

// ------------------------------------------------------------ sharp, loaded on first use

type SharpModule = typeof import('sharp');
let sharpInstance: SharpModule | null = null;

function sharpModule(): SharpModule {
  // Loaded here, not at the top: a service that only ever predicts from arrays never loads libvips.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sharpInstance ??= require('sharp') as SharpModule;
  return sharpInstance;
}

/** Whether sharp has been loaded in this process (the runtime's tests check that array-only use never loads it). */
export function sharpLoaded(): boolean {
  return sharpInstance !== null;
}

/**
 * sharp calls in flight at once: each runs on libuv's thread pool (UV_THREADPOOL_SIZE, default 4), so more
 * than that only queue there; fewer leave threads idle. sharp's own per-image thread count
 * (`sharp.concurrency()`) is left as the process has it: the parallelism here is across images.
 */
export function maxConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(pool) && pool > 0 ? pool : 4;
}

/** At most `maxConcurrency()` sharp calls at once, however many are asked for. */
const limited = concurrencyLimit(maxConcurrency);
