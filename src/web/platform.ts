/**
 * The browser's side of the platform seam (src/runtime/platform.ts): onnxruntime-web for sessions, and the browser's
 * own image decoders (createImageBitmap, OffscreenCanvas) for the images the shared plain-PNG path does not take.
 * No Node built-in, no native package: a bundler builds this for a page (or a worker) without shims.
 */
import type { InferenceSession } from 'onnxruntime-common';
import * as ortWasm from 'onnxruntime-web/wasm';
import { InputValidationError } from '../core/errors';
import { channelFirst, concurrencyLimit, ImageDecodeError, type PixelDecoder } from '../preprocess/image-core';
import type { ImagePreprocessSpec } from '../preprocess/spec';
import { placement } from './placement';
import type { ModelSession, Platform } from '../runtime/platform';
import { runRows, SESSION_OPTIONS, type TensorClass } from '../runtime/run';
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

function ortFor(backend: WebBackend): Promise<OrtModule> {
  if (backend === 'wasm') return Promise.resolve(ortWasm);
  // A separate build (with its own, larger .wasm): loaded only by pages that ask for WebGPU.
  webgpuModule ??= import('onnxruntime-web/webgpu');
  return webgpuModule;
}

/**
 * The thread count each onnxruntime-web build was claimed with, by the first load that configured it: a number, or
 * `default` (onnxruntime-web's choice, known once its runtime has started). Each build (WebAssembly, WebGPU) has its
 * own runtime, started once per page. The claim is made synchronously, before the first session is created, so that
 * two first loads started together cannot both set the count.
 */
const claims = new Map<OrtModule, number | 'default'>();

/** The count a build runs (or will run) with, if it is known: its claim, else the count its runtime started with. */
function threadsOf(ort: OrtModule): number | null {
  const claim = claims.get(ort);
  if (claim === undefined) return null;
  if (claim !== 'default') return claim;
  return ort.env.wasm.numThreads ?? null;
}

/**
 * Whether a load may ask for `threads` on the WebAssembly build: any count before the first load, then only the count
 * it runs with (InputValidationError naming `options.threads` otherwise). Checked before anything is fetched.
 */
export function checkThreads(threads: number | undefined, ort: OrtModule = ortWasm): void {
  if (threads === undefined || !claims.has(ort)) return;
  const running = threadsOf(ort);
  if (running === threads) return;
  const expected =
    running === null
      ? "no thread count: the page's WebAssembly runtime is starting with onnxruntime-web's default"
      : `${running}: the page's WebAssembly runtime runs ${running} thread(s), set once per page`;
  throw new InputValidationError('options.threads', expected, String(threads));
}

/** Claims the thread count and sets `wasmPaths` before the build's first session. */
function configure(ort: OrtModule, options: WebLoadOptions): void {
  checkThreads(options.threads, ort);
  if (!claims.has(ort)) {
    claims.set(ort, options.threads ?? 'default');
    if (options.threads !== undefined) ort.env.wasm.numThreads = options.threads;
  }
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
}

/** Runs one at a time: a WebGPU session refuses a run while another is in flight ("Session already started"). */
function serialised(run: ModelSession['run']): ModelSession['run'] {
  let last: Promise<unknown> = Promise.resolve();
  return (plan, data, rows) => {
    const next = last.then(
      () => run(plan, data, rows),
      () => run(plan, data, rows),
    );
    last = next.catch(() => undefined);
    return next;
  };
}

async function openSession(bytes: Uint8Array, options: WebLoadOptions): Promise<ModelSession> {
  const backend = options.backend ?? 'wasm';
  // Checked before the WebGPU build (a large chunk) is fetched for nothing.
  if (backend === 'webgpu' && !('gpu' in navigator)) throw new Error('this browser has no WebGPU (navigator.gpu)');
  const ort = await ortFor(backend);
  configure(ort, options);
  const session: InferenceSession = await ort.InferenceSession.create(bytes, {
    ...SESSION_OPTIONS,
    executionProviders: [backend],
  });
  const tensorClass = ort.Tensor as unknown as TensorClass;
  const run: ModelSession['run'] = (plan, data, rows) => runRows(tensorClass, session, plan, data, rows);
  return { run: backend === 'webgpu' ? serialised(run) : run, release: () => session.release() };
}

/** The threads the page's WebAssembly runtime runs (null before the first model is loaded). */
export function wasmThreads(): number | null {
  return threadsOf(ortWasm);
}

// ------------------------------------------------------------ images

/**
 * The browser's decoder, with the recorded preprocessing: decode (EXIF orientation applied), flatten transparency
 * onto black, resize to `size` with `fit` by the browser's high-quality resampler (not libvips's Lanczos-3: the one
 * step that differs from Node, for images not already of the target size), then channels as Node makes them (3:
 * RGB; 1: libvips's B_W luminance in linear light). Colour management is off, as in libvips for untagged images.
 */
export const browserDecoder: PixelDecoder = (spec, bytes) =>
  limited(async () => {
    const bitmap = await bitmapOf(bytes);
    try {
      return channelsOf(spec, drawn(spec, bitmap));
    } finally {
      bitmap.close();
    }
  });

/** Decodes at once: one per core, as Node's sharp calls (a batch of 10,000 images holds 4 bitmaps, not 10,000). */
const limited = concurrencyLimit(() => Math.max(1, navigator.hardwareConcurrency || 4));

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
