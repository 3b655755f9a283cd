/**
 * The browser's side of the platform seam (src/runtime/platform.ts): onnxruntime-web for sessions, and the browser's
 * own image decoders (createImageBitmap, OffscreenCanvas) for the images the shared plain-PNG path does not take.
 * No Node built-in, no native package: a bundler builds this for a page (or a worker) without shims.
 */
import type { InferenceSession } from 'onnxruntime-common';
import * as ortWasm from 'onnxruntime-web/wasm';
import { InputValidationError } from '../core/errors';
import { channelFirst, ImageDecodeError, type PixelDecoder } from '../preprocess/image-core';
import type { ImagePreprocessSpec } from '../preprocess/spec';
import type { ModelSession, Platform } from '../runtime/platform';
import { runRows, type TensorClass } from '../runtime/run';
import type { LoadOptions } from '../runtime/types';

/** Where the model runs: WebAssembly on the CPU (the default), or the GPU through WebGPU (opt-in). */
export type WebBackend = 'wasm' | 'webgpu';

/** Options to the browser's `OnnxModel.load`: the Node options, and where and how onnxruntime-web runs. */
export interface WebLoadOptions extends LoadOptions {
  /** `wasm` (default) or `webgpu`; WebGPU loads onnxruntime-web's WebGPU build on first use. */
  readonly backend?: WebBackend;
  /**
   * WebAssembly threads. They need a cross-origin isolated page (COOP + COEP headers); without it onnxruntime-web
   * runs one thread. Default: onnxruntime-web's (half the cores, at most 4, when isolated). The WebAssembly runtime
   * starts once per page, so every model of a page must ask for the same count.
   */
  readonly threads?: number;
  /**
   * The URL prefix under which `ort-wasm-simd-threaded.mjs` and `.wasm` (from onnxruntime-web/dist) are served, e.g.
   * `/ort/`. Needed when a bundler moved onnxruntime-web's code away from its files; default: next to its module.
   */
  readonly wasmPaths?: string;
}

/** onnxruntime-web's module, as used here (the WebAssembly build and the WebGPU build have the same API). */
type OrtModule = typeof ortWasm;

let webgpuModule: Promise<OrtModule> | null = null;
/** The WebAssembly runtime's thread count once it has started (it cannot change afterwards). */
let startedThreads: number | null = null;

function ortFor(backend: WebBackend): Promise<OrtModule> {
  if (backend === 'wasm') return Promise.resolve(ortWasm);
  // A separate build (with its own, larger .wasm): loaded only by pages that ask for WebGPU.
  webgpuModule ??= import('onnxruntime-web/webgpu');
  return webgpuModule;
}

/**
 * A thread count the page can still have: any before the WebAssembly runtime starts, only the count it started with
 * afterwards (InputValidationError naming `options.threads` otherwise).
 */
export function checkThreads(threads: number | undefined): void {
  if (startedThreads === null || threads === undefined || threads === startedThreads) return;
  throw new InputValidationError(
    'options.threads',
    `${startedThreads}: the page's WebAssembly runtime already started with ${startedThreads} thread(s)`,
    String(threads),
  );
}

/** Applies `threads` and `wasmPaths` before the first session. */
function configure(ort: OrtModule, options: WebLoadOptions): void {
  checkThreads(options.threads);
  if (startedThreads === null && options.threads !== undefined) ort.env.wasm.numThreads = options.threads;
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
}

async function openSession(bytes: Uint8Array, options: WebLoadOptions): Promise<ModelSession> {
  const backend = options.backend ?? 'wasm';
  const ort = await ortFor(backend);
  configure(ort, options);
  if (backend === 'webgpu' && !('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu)');
  const session: InferenceSession = await ort.InferenceSession.create(bytes, {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
  });
  startedThreads ??= ort.env.wasm.numThreads ?? 1;
  const tensorClass = ort.Tensor as unknown as TensorClass;
  return {
    run: (plan, data, rows) => runRows(tensorClass, session, plan, data, rows),
    release: () => session.release(),
  };
}

/** The threads the page's WebAssembly runtime uses (null before the first model is loaded). */
export function wasmThreads(): number | null {
  return startedThreads;
}

// ------------------------------------------------------------ images

/**
 * The browser's decoder, with the recorded preprocessing: decode (EXIF orientation applied), flatten transparency
 * onto black, resize to `size` with `fit` by the browser's high-quality resampler (not libvips's Lanczos-3: the one
 * step that differs from Node, for images not already of the target size), then channels as Node makes them (3:
 * RGB; 1: libvips's B_W luminance in linear light). Colour management is off, as in libvips for untagged images.
 */
export const browserDecoder: PixelDecoder = async (spec, bytes) => {
  const bitmap = await bitmapOf(bytes);
  try {
    return channelsOf(spec, drawn(spec, bitmap));
  } finally {
    bitmap.close();
  }
};

async function bitmapOf(bytes: Uint8Array): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ImageDecodeError('unreadable', `corrupt, truncated or unsupported image: ${detail}`, { cause: error });
  }
}

/** The image drawn at the target size on black (which flattens transparency and fills `contain`'s bars): RGBA. */
function drawn(spec: ImagePreprocessSpec, bitmap: ImageBitmap): Uint8ClampedArray {
  const [height, width] = spec.size;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (context === null) throw new Error('image decoding: no 2D context on an OffscreenCanvas');
  context.fillStyle = '#000';
  context.fillRect(0, 0, width, height);
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  const { source, target } = placement(spec.fit, bitmap.width, bitmap.height, width, height);
  context.drawImage(bitmap, source.x, source.y, source.w, source.h, target.x, target.y, target.w, target.h);
  return context.getImageData(0, 0, width, height).data;
}

interface Rect {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** Where the image goes, as sharp places it (centred): `fill` stretches, `contain` letterboxes, `cover` crops. */
export function placement(
  fit: ImagePreprocessSpec['fit'],
  imageWidth: number,
  imageHeight: number,
  width: number,
  height: number,
): { source: Rect; target: Rect } {
  const whole: Rect = { x: 0, y: 0, w: imageWidth, h: imageHeight };
  if (fit === 'fill') return { source: whole, target: { x: 0, y: 0, w: width, h: height } };
  if (fit === 'contain') {
    const scale = Math.min(width / imageWidth, height / imageHeight);
    const w = Math.max(1, Math.round(imageWidth * scale));
    const h = Math.max(1, Math.round(imageHeight * scale));
    return { source: whole, target: { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h } };
  }
  const scale = Math.max(width / imageWidth, height / imageHeight);
  const w = Math.min(imageWidth, width / scale);
  const h = Math.min(imageHeight, height / scale);
  return {
    source: { x: (imageWidth - w) / 2, y: (imageHeight - h) / 2, w, h },
    target: { x: 0, y: 0, w: width, h: height },
  };
}

/** sRGB 8-bit → linear light, as libvips's B_W conversion computes it. */
const LINEAR = Float64Array.from({ length: 256 }, (_, value) => {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
});

function srgbByte(linear: number): number {
  const v = linear <= 0.0031308 ? 12.92 * linear : 1.055 * linear ** (1 / 2.4) - 0.055;
  return Math.min(255, Math.max(0, Math.round(v * 255)));
}

/** RGBA → the model's channels, [C, H, W]. */
function channelsOf(spec: ImagePreprocessSpec, rgba: Uint8ClampedArray): Uint8Array {
  const pixels = rgba.length / 4;
  if (spec.channels === 3) {
    const rgb = new Uint8Array(pixels * 3);
    for (let i = 0, j = 0; i < pixels; i++, j += 4) {
      rgb[3 * i] = rgba[j] ?? 0;
      rgb[3 * i + 1] = rgba[j + 1] ?? 0;
      rgb[3 * i + 2] = rgba[j + 2] ?? 0;
    }
    return channelFirst(rgb, pixels, 3);
  }
  const gray = new Uint8Array(pixels);
  for (let i = 0, j = 0; i < pixels; i++, j += 4) {
    const r = rgba[j] ?? 0;
    const g = rgba[j + 1] ?? 0;
    const b = rgba[j + 2] ?? 0;
    // A gray pixel keeps its value exactly (no round trip through linear light).
    gray[i] =
      r === g && g === b
        ? r
        : srgbByte(0.2126 * (LINEAR[r] ?? 0) + 0.7152 * (LINEAR[g] ?? 0) + 0.0722 * (LINEAR[b] ?? 0));
  }
  return gray;
}

/** The browser's platform. */
export const BROWSER: Platform = {
  openSession: (bytes, options) => openSession(bytes, options),
  decodePixels: browserDecoder,
};
