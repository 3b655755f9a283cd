/**
 * The platform-neutral half of image decoding, shared by Node (src/preprocess/image.ts, with sharp) and the browser
 * (src/web/platform.ts, with the browser's own decoders): the container signatures, the error type, and the one
 * path both take first — a plain PNG of the target size read by src/preprocess/png.ts, whose pixels are libvips's
 * exactly — so that an image the model was trained on gives the same pixels in both. Everything else (another
 * format, a size to resample, a colour conversion) goes to the platform's `PixelDecoder`.
 */
import { InputValidationError } from '../core/errors';
import { decodePlainPng, isPng } from './png';
import type { ImagePreprocessSpec } from './spec';

/**
 * A platform's decoder for what the plain-PNG path does not take: the pixels as [channels, height, width] uint8 of
 * the spec's size; an ImageDecodeError when the bytes are not a readable image.
 */
export type PixelDecoder = (spec: ImagePreprocessSpec, bytes: Uint8Array) => Promise<Uint8Array>;

/** Whether the bytes start like a PNG, JPEG or WebP file (raw pixels never do). */
export function isEncodedImage(bytes: Uint8Array): boolean {
  return imageFormat(bytes) !== null;
}

/** The container format from the file's signature, or null. */
export function imageFormat(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | null {
  if (isPng(bytes)) return 'png';
  // JPEG: SOI (FF D8) then a marker (FF xx): APPn, DQT, SOFn, DHT, COM — four fixed-form bytes, not three.
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff && isJpegMarker(bytes[3] ?? 0))
    return 'jpeg';
  if (
    bytes.length >= 12 &&
    bytes[0] === 0x52 &&
    bytes[1] === 0x49 &&
    bytes[2] === 0x46 &&
    bytes[3] === 0x46 && // RIFF
    bytes[8] === 0x57 &&
    bytes[9] === 0x45 &&
    bytes[10] === 0x42 &&
    bytes[11] === 0x50 // WEBP
  ) {
    return 'webp';
  }
  return null;
}

function isJpegMarker(byte: number): boolean {
  return (
    (byte >= 0xe0 && byte <= 0xef) || byte === 0xdb || byte === 0xc4 || byte === 0xfe || (byte >= 0xc0 && byte <= 0xc2)
  );
}

/** The reason bytes could not be decoded; callers turn it into their own error (InputValidationError, DatasetError). */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';

  constructor(
    /** 'not-an-image': no PNG/JPEG/WebP signature; 'unreadable': the decoder failed (corrupt, truncated). */
    readonly reason: 'not-an-image' | 'unreadable',
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

/**
 * The image's pixels, [channels, height, width] uint8, by the shared path then `decoder`. Throws
 * InputValidationError naming `where` when it is not a readable image.
 */
export async function decodeImage(
  decoder: PixelDecoder,
  spec: ImagePreprocessSpec,
  bytes: Uint8Array,
  where: string,
): Promise<Uint8Array> {
  try {
    return await decodePixels(decoder, spec, bytes);
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    throw new InputValidationError(
      where,
      'a PNG, JPEG or WebP image',
      `${bytes.length} bytes that ${error.reason === 'not-an-image' ? 'are not one' : 'cannot be decoded'} (${error.message})`,
    );
  }
}

/** The decoding behind decodeImage, throwing ImageDecodeError for a bad image: the plain-PNG path, else `decoder`. */
export async function decodePixels(
  decoder: PixelDecoder,
  spec: ImagePreprocessSpec,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  const format = imageFormat(bytes);
  if (format === null)
    throw new ImageDecodeError('not-an-image', `no PNG, JPEG or WebP signature; it starts with ${hexStart(bytes)}`);
  const [height, width] = spec.size;
  if (format === 'png') {
    const plain = decodePlainPng(bytes);
    if (plain !== null && plain.width === width && plain.height === height) {
      if (plain.channels === spec.channels) return channelFirst(plain.pixels, height * width, spec.channels);
      if (plain.channels === 1) return repeatGray(plain.pixels, 3); // gray → RGB: sharp repeats the band too
      const gray = neutralGray(plain.pixels); // RGB → gray: R = G = B everywhere gives that value (libvips too: tested)
      if (gray !== null) return gray;
    }
  }
  return decoder(spec, bytes);
}

/** HWC interleaved → CHW planes (a copy for one channel too: the result never aliases sharp's or the caller's memory). */
export function channelFirst(hwc: Uint8Array, pixels: number, channels: number): Uint8Array {
  if (channels === 1) return new Uint8Array(hwc.subarray(0, pixels));
  const out = new Uint8Array(pixels * channels);
  for (let c = 0; c < channels; c++) {
    const plane = c * pixels;
    for (let i = 0, j = c; i < pixels; i++, j += channels) out[plane + i] = hwc[j] ?? 0;
  }
  return out;
}

/** The gray values of an RGB image whose every pixel has R = G = B, else null. */
function neutralGray(rgb: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) {
    const r = rgb[j] ?? 0;
    if (rgb[j + 1] !== r || rgb[j + 2] !== r) return null;
    out[i] = r;
  }
  return out;
}

function repeatGray(gray: Uint8Array, channels: number): Uint8Array {
  const out = new Uint8Array(gray.length * channels);
  for (let c = 0; c < channels; c++) out.set(gray, c * gray.length);
  return out;
}

function hexStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'nothing (0 bytes)';
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * A limit on how many decodes run at once (a predictBatch of 10,000 images, a training folder): the slot of a finished
 * call passes to the next waiting one. `max` is read on each call (Node's comes from UV_THREADPOOL_SIZE).
 */
export function concurrencyLimit(max: () => number): <T>(work: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (active >= max()) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next)
        next(); // the slot passes to the next caller: `active` stays
      else active--;
    }
  };
}
