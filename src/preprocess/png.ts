/**
 * A strict reader for the plainest PNG files — 8-bit grayscale or RGB, not interlaced, no palette, no
 * transparency, no colour profile — the form datasets like MNIST written out as PNGs take. For these, the
 * decoded pixels are the image, with nothing to convert, so this reader gives exactly what libvips (sharp)
 * gives; it exists because sharp's per-call cost (~0.8 ms) dominates for 28×28 images (src/preprocess/image.ts
 * uses it only when the image already has the target size and channels; resizing and every conversion stay
 * with sharp). Anything else — another colour type or depth, an unknown or colour-related chunk, a bad CRC or
 * Adler-32, a truncated stream — returns null, and sharp decides (and names the error).
 */
import { inflateSync } from 'fflate';

export interface PlainPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  /** height × width × channels, interleaved (HWC), as in the file. */
  pixels: Uint8Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Chunks that say nothing about the pixels' values. Any other ancillary chunk (gAMA, iCCP, sRGB, tRNS, bKGD, eXIf, …) sends the file to sharp. */
const NEUTRAL = new Set(['tEXt', 'zTXt', 'iTXt', 'tIME', 'pHYs']);

/** Refuse plain decoding of huge images (sharp has its own pixel limit). */
const MAX_PIXELS = 1 << 24;

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  return true;
}

let crcTable: Uint32Array | null = null;

function crc32(bytes: Uint8Array, start: number, end: number): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = (table[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + 5552); // the largest run before the sums must be reduced
    for (; i < end; i++) {
      a += bytes[i] ?? 0;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function u32(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0)) >>> 0
  );
}

/** The pixels of a plain PNG (see the file's comment), or null when the file is anything else. */
export function decodePlainPng(bytes: Uint8Array): PlainPixels | null {
  if (!isPng(bytes)) return null;
  let at = 8;
  let width = 0;
  let height = 0;
  let channels: 1 | 3 = 1;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let idatDone = false;
  let first = true;
  for (;;) {
    if (at + 12 > bytes.length) return null; // truncated: no IEND
    const length = u32(bytes, at);
    const end = at + 8 + length;
    if (length > 0x7fffffff || end + 4 > bytes.length) return null;
    if (crc32(bytes, at + 4, end) !== u32(bytes, end)) return null;
    const type = String.fromCharCode(bytes[at + 4] ?? 0, bytes[at + 5] ?? 0, bytes[at + 6] ?? 0, bytes[at + 7] ?? 0);
    const data = bytes.subarray(at + 8, end);
    at = end + 4;
    if (first !== (type === 'IHDR')) return null;
    first = false;
    if (type === 'IHDR') {
      if (length !== 13) return null;
      width = u32(data, 0);
      height = u32(data, 4);
      const [depth, colour, compression, filter, interlace] = [data[8], data[9], data[10], data[11], data[12]];
      if (depth !== 8 || (colour !== 0 && colour !== 2) || compression !== 0 || filter !== 0 || interlace !== 0)
        return null;
      if (width === 0 || height === 0 || width * height > MAX_PIXELS) return null;
      channels = colour === 0 ? 1 : 3;
    } else if (type === 'IDAT') {
      if (idatDone) return null; // IDAT chunks must be consecutive
      idat.push(data);
      idatBytes += data.length;
    } else if (type === 'IEND') {
      break;
    } else if (NEUTRAL.has(type)) {
      if (idat.length > 0) idatDone = true;
    } else {
      return null;
    }
  }
  const [single] = idat;
  if (single === undefined) return null;
  let stream: Uint8Array;
  if (idat.length === 1) {
    stream = single;
  } else {
    stream = new Uint8Array(idatBytes);
    let offset = 0;
    for (const part of idat) {
      stream.set(part, offset);
      offset += part.length;
    }
  }
  // zlib: a 2-byte header (deflate, no preset dictionary), the deflate stream, the Adler-32 of the result.
  if (
    stream.length < 6 ||
    ((stream[0] ?? 0) & 0x0f) !== 8 ||
    (((stream[0] ?? 0) << 8) | (stream[1] ?? 0)) % 31 !== 0 ||
    (stream[1] ?? 0) & 0x20
  )
    return null;
  const stride = width * channels;
  const expected = height * (stride + 1);
  let filtered: Uint8Array;
  try {
    filtered = inflateSync(stream.subarray(2, stream.length - 4), { out: new Uint8Array(expected) });
  } catch {
    return null;
  }
  if (filtered.length !== expected || adler32(filtered) !== u32(stream, stream.length - 4)) return null;
  const pixels = unfilter(filtered, height, stride, channels);
  return pixels === null ? null : { width, height, channels, pixels };
}

/** Undoes the per-row filters (None, Sub, Up, Average, Paeth); null on an unknown filter type. */
function unfilter(filtered: Uint8Array, height: number, stride: number, bpp: number): Uint8Array | null {
  const out = new Uint8Array(height * stride);
  for (let row = 0; row < height; row++) {
    const type = filtered[row * (stride + 1)] ?? 0;
    const src = row * (stride + 1) + 1;
    const dst = row * stride;
    const up = dst - stride; // the previous output row (absent for row 0: zeros)
    switch (type) {
      case 0:
        out.set(filtered.subarray(src, src + stride), dst);
        break;
      case 1:
        for (let i = 0; i < stride; i++)
          out[dst + i] = (filtered[src + i] ?? 0) + (i >= bpp ? (out[dst + i - bpp] ?? 0) : 0);
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[dst + i] = (filtered[src + i] ?? 0) + (row > 0 ? (out[up + i] ?? 0) : 0);
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? (out[dst + i - bpp] ?? 0) : 0;
          const above = row > 0 ? (out[up + i] ?? 0) : 0;
          out[dst + i] = (filtered[src + i] ?? 0) + ((left + above) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? (out[dst + i - bpp] ?? 0) : 0;
          const b = row > 0 ? (out[up + i] ?? 0) : 0;
          const c = i >= bpp && row > 0 ? (out[up + i - bpp] ?? 0) : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[dst + i] = (filtered[src + i] ?? 0) + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return null;
    }
  }
  return out;
}
