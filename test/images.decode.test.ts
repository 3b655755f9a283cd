/**
 * The image decoding (src/preprocess/image.ts, src/preprocess/png.ts): sizes, channels, fit modes, the
 * channel-first layout, the grayscale formula, alpha, and the plain-PNG fast path giving sharp's pixels exactly.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { decodeImage, decodePixels } from '../src/preprocess/image';
import { imageFormat, isEncodedImage } from '../src/preprocess/image-core';
import { decodePlainPng } from '../src/preprocess/png';
import type { ImagePreprocessSpec } from '../src/preprocess/spec';
import { InputValidationError } from '../src/core/errors';

const spec = (
  size: [number, number],
  channels: 1 | 3 = 1,
  fit: ImagePreprocessSpec['fit'] = 'fill',
): ImagePreprocessSpec => ({ kind: 'image', size, channels, fit });

/** Encodes raw HWC pixels with sharp. */
function encode(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 2 | 3 | 4,
  format: 'png' | 'jpeg' | 'webp' = 'png',
): Promise<Buffer> {
  // sharp writes sRGB unless told: a one-channel image is written as a grayscale file here.
  const raw = sharp(Buffer.from(pixels), { raw: { width, height, channels } });
  const image = channels === 1 ? raw.toColourspace('b-w') : raw;
  return (
    format === 'png' ? image.png() : format === 'jpeg' ? image.jpeg({ quality: 95 }) : image.webp({ lossless: true })
  ).toBuffer();
}

function random(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

// A minimal PNG encoder with a chosen filter per row, to exercise every filter type of the fast path.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc(body), body.length + 4);
  return out;
}
function filterRow(type: number, row: Uint8Array, previous: Uint8Array | null, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = previous ? previous[i]! : 0;
    const c = i >= bpp && previous ? previous[i - bpp]! : 0;
    const p = a + b - c;
    const paeth =
      Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
        ? a
        : Math.abs(p - b) <= Math.abs(p - c)
          ? b
          : c;
    const predictor = [0, a, b, (a + b) >> 1, paeth][type]!;
    out[i] = (row[i]! - predictor) & 0xff;
  }
  return out;
}
function handPng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
  options: { extra?: Buffer[]; interlace?: number; depth?: number } = {},
): Buffer {
  const stride = width * channels;
  const raw: number[] = [];
  for (let y = 0; y < height; y++) {
    const type = y % 5;
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    raw.push(type, ...filterRow(type, row, y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null, channels));
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = options.depth ?? 8;
  ihdr[9] = channels === 1 ? 0 : 2;
  ihdr[12] = options.interlace ?? 0;
  const compressed = deflateSync(Buffer.from(raw));
  // Two IDAT chunks, to exercise the concatenation.
  const half = compressed.length >> 1;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(options.extra ?? []),
    chunk('IDAT', compressed.subarray(0, half)),
    chunk('IDAT', compressed.subarray(half)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

async function sharpRaw(png: Uint8Array, channels: 1 | 3): Promise<Buffer> {
  return sharp(png)
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer();
}

describe('formats', () => {
  test('PNG, JPEG and WebP are recognised by their bytes; raw pixels are not', async () => {
    const pixels = random(16 * 16, 1);
    expect(imageFormat(await encode(pixels, 16, 16, 1, 'png'))).toBe('png');
    expect(imageFormat(await encode(pixels, 16, 16, 1, 'jpeg'))).toBe('jpeg');
    expect(imageFormat(await encode(pixels, 16, 16, 1, 'webp'))).toBe('webp');
    expect(isEncodedImage(pixels)).toBe(false);
    expect(isEncodedImage(new Uint8Array(784))).toBe(false);
    expect(isEncodedImage(new Uint8Array([0xff, 0xd8, 0xff]))).toBe(false); // too short to be a JPEG
    expect(isEncodedImage(new Uint8Array(0))).toBe(false);
  });
});

describe('decodeImage', () => {
  test('a grayscale PNG of the target size: its pixels, as they are', async () => {
    const pixels = random(28 * 28, 2);
    const out = await decodeImage(spec([28, 28]), await encode(pixels, 28, 28, 1), 'sample');
    expect(out).toBeInstanceOf(Uint8Array);
    expect(Array.from(out)).toEqual(Array.from(pixels));
  });

  test('channels 3: channel-first [C, H, W] (sharp gives H×W×C; the planes are R, G, B)', async () => {
    const [h, w] = [3, 5];
    const hwc = random(h * w * 3, 3);
    for (const format of ['png', 'webp'] as const) {
      const out = await decodeImage(spec([h, w], 3), await encode(hwc, w, h, 3, format), 'sample');
      expect(out.length).toBe(3 * h * w);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let c = 0; c < 3; c++) expect(out[c * h * w + y * w + x]).toBe(hwc[(y * w + x) * 3 + c]);
        }
      }
    }
  });

  test("channels 1 from colour: libvips's luminance, Y = 0.2126 R + 0.7152 G + 0.0722 B in linear light, sRGB-encoded", async () => {
    const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128, 200, 100, 50, 255, 255, 255]);
    const out = await decodeImage(spec([1, 6], 1), await encode(rgb, 6, 1, 3), 'sample');
    const linear = (v: number): number => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
    const encoded = (y: number): number =>
      Math.round(255 * (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055));
    const expected = [0, 1, 2, 3, 4, 5].map((i) =>
      encoded(0.2126 * linear(rgb[3 * i]!) + 0.7152 * linear(rgb[3 * i + 1]!) + 0.0722 * linear(rgb[3 * i + 2]!)),
    );
    expect(Array.from(out)).toEqual([127, 220, 76, 128, 128, 255]);
    for (const [index, value] of expected.entries()) expect(Math.abs(out[index]! - value)).toBeLessThanOrEqual(1);
  });

  test('channels 3 from grayscale: the gray value in R, G and B (fast path and sharp agree)', async () => {
    const gray = random(4 * 4, 4);
    const png = await encode(gray, 4, 4, 1);
    const out = await decodeImage(spec([4, 4], 3), png, 'sample');
    expect(Array.from(out)).toEqual([...gray, ...gray, ...gray]);
    const viaSharp = await decodeImage(spec([4, 4], 3), await encode(gray, 4, 4, 1, 'webp'), 'sample');
    expect(Array.from(viaSharp)).toEqual(Array.from(out));
  });

  test('transparency is flattened onto black', async () => {
    const rgba = new Uint8Array([255, 255, 255, 0, 255, 255, 255, 128, 200, 100, 50, 255, 10, 20, 30, 255]);
    const out = await decodeImage(spec([1, 4], 3), await encode(rgba, 4, 1, 4), 'sample');
    expect(Array.from(out)).toEqual([0, 128, 200, 10, 0, 128, 100, 20, 0, 128, 50, 30]);
    const gray = await decodeImage(spec([1, 2], 1), await encode(new Uint8Array([255, 0, 90, 255]), 2, 1, 2), 'sample');
    expect(Array.from(gray)).toEqual([0, 90]);
  });

  test('an image of another size is resized (Lanczos-3), not refused', async () => {
    const big = new Uint8Array(56 * 56).fill(200);
    const out = await decodeImage(spec([28, 28]), await encode(big, 56, 56, 1), 'sample');
    expect(out.length).toBe(784);
    expect(out.every((v) => v === 200)).toBe(true);
    const small = await decodeImage(
      spec([32, 48], 3),
      await encode(random(10 * 10 * 3, 5), 10, 10, 3, 'jpeg'),
      'sample',
    );
    expect(small.length).toBe(3 * 32 * 48);
  });

  test('fit: fill stretches, contain letterboxes in black, cover crops the centre', async () => {
    // 10 high, 40 wide: black | white (columns 10-29) | black.
    const [h, w] = [10, 40];
    const wide = new Uint8Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 10; x < 30; x++) wide[y * w + x] = 255;
    const png = await encode(wide, w, h, 1);
    const at = (out: Uint8Array, y: number, x: number): number => out[y * 20 + x]!;
    const fill = await decodeImage(spec([20, 20], 1, 'fill'), png, 'sample');
    expect(at(fill, 10, 0)).toBeLessThan(20);
    expect(at(fill, 10, 10)).toBeGreaterThan(235);
    expect(at(fill, 0, 10)).toBeGreaterThan(235); // stretched to the full height
    const contain = await decodeImage(spec([20, 20], 1, 'contain'), png, 'sample');
    expect(at(contain, 0, 10)).toBe(0); // the bars
    expect(at(contain, 19, 10)).toBe(0);
    expect(at(contain, 10, 10)).toBeGreaterThan(235); // the image, 5 rows high, in the middle
    const cover = await decodeImage(spec([20, 20], 1, 'cover'), png, 'sample');
    expect(cover.every((v) => v > 235)).toBe(true); // the centre 10 columns, scaled up: all white
  });

  test('JPEG (lossy) decodes close to its pixels; 16-bit PNG is reduced to 8 bits', async () => {
    const flat = new Uint8Array(16 * 16 * 3).fill(90);
    const jpeg = await decodeImage(spec([16, 16], 3), await encode(flat, 16, 16, 3, 'jpeg'), 'sample');
    expect(jpeg.every((v) => Math.abs(v - 90) <= 2)).toBe(true);
    // A 16-bit PNG written by hand: [65535, 32896, 0, 257] → [255, 128, 0, 1].
    const raw16 = Buffer.from([0, 0xff, 0xff, 0x80, 0x80, 0, 0x00, 0x00, 0x01, 0x01]);
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(2, 0);
    ihdr.writeUInt32BE(2, 4);
    ihdr[8] = 16;
    const rows = Buffer.concat([Buffer.from([0]), raw16.subarray(1, 5), Buffer.from([0]), raw16.subarray(6, 10)]);
    const png16 = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(rows)),
      chunk('IEND', new Uint8Array(0)),
    ]);
    expect(decodePlainPng(png16)).toBeNull(); // not plain: sharp decodes it
    expect(Array.from(await decodeImage(spec([2, 2]), png16, 'sample'))).toEqual([255, 128, 0, 1]);
  });
});

describe('the plain-PNG fast path gives exactly what sharp gives', () => {
  test.each([1, 3] as const)('every filter type, two IDAT chunks, text chunks (channels %i)', async (channels) => {
    for (const [w, h] of [
      [28, 28],
      [7, 13],
      [1, 1],
      [64, 3],
    ] as const) {
      const pixels = random(w * h * channels, w * 100 + h + channels);
      const text = chunk('tEXt', Buffer.from('Comment\0hand-made', 'latin1'));
      const png = handPng(pixels, w, h, channels, { extra: [text] });
      const plain = decodePlainPng(png);
      expect(plain).not.toBeNull();
      expect(Buffer.from(plain!.pixels).equals(Buffer.from(pixels))).toBe(true);
      expect(Buffer.from(plain!.pixels).equals(await sharpRaw(png, channels))).toBe(true);
    }
  });

  test("sharp's own PNGs (adaptive filtering, pHYs) decode to the same bytes by both paths", async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const channels = seed % 2 ? 1 : 3;
      const pixels = random(28 * 28 * channels, seed);
      // Smooth images too, so that the encoder picks Sub/Up/Average/Paeth filters.
      if (seed > 10) for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 3 + seed) & 0xff;
      const png = await encode(pixels, 28, 28, channels);
      const fast = await decodePixels(spec([28, 28], channels), png);
      const viaSharp = await sharpRaw(png, channels);
      const hwc =
        channels === 1
          ? fast
          : Uint8Array.from({ length: fast.length }, (_, i) => fast[(i % 3) * 784 + Math.floor(i / 3)]!);
      expect(Buffer.from(hwc).equals(viaSharp)).toBe(true);
    }
  });

  test('anything not plain goes to sharp: interlaced, palette, transparency, colour chunks, a bad CRC', async () => {
    const pixels = random(8 * 8, 9);
    expect(decodePlainPng(handPng(pixels, 8, 8, 1))).not.toBeNull();
    expect(decodePlainPng(handPng(pixels, 8, 8, 1, { interlace: 1 }))).toBeNull();
    expect(
      decodePlainPng(handPng(pixels, 8, 8, 1, { extra: [chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]))] })),
    ).toBeNull();
    expect(decodePlainPng(handPng(pixels, 8, 8, 1, { extra: [chunk('tRNS', Buffer.from([0, 0]))] }))).toBeNull();
    const palette = await sharp(Buffer.from(random(8 * 8 * 3, 3)), { raw: { width: 8, height: 8, channels: 3 } })
      .png({ palette: true })
      .toBuffer();
    expect(decodePlainPng(palette)).toBeNull();
    expect((await decodePixels(spec([8, 8], 3), palette)).length).toBe(192);
    const corrupt = Buffer.from(handPng(pixels, 8, 8, 1));
    corrupt[45] = corrupt[45]! ^ 0xff; // inside the first IDAT: its CRC no longer matches
    expect(decodePlainPng(corrupt)).toBeNull();
  });

  test("an RGB PNG whose pixels are all gray, asked for as gray: R, as libvips's luminance gives (all 256 values)", async () => {
    const rgb = new Uint8Array(256 * 3);
    for (let v = 0; v < 256; v++) rgb.fill(v, 3 * v, 3 * v + 3);
    const png = handPng(rgb, 16, 16, 3);
    expect(decodePlainPng(png)!.channels).toBe(3);
    const fast = await decodePixels(spec([16, 16], 1), png);
    expect(Array.from(fast)).toEqual(Array.from({ length: 256 }, (_, v) => v));
    expect(Buffer.from(fast).equals(await sharpRaw(png, 1))).toBe(true);
    const tinted = Uint8Array.from(rgb);
    tinted[0] = 9; // one coloured pixel: sharp converts the whole image
    expect(
      Buffer.from(await decodePixels(spec([16, 16], 1), handPng(tinted, 16, 16, 3))).equals(
        await sharpRaw(handPng(tinted, 16, 16, 3), 1),
      ),
    ).toBe(true);
  });

  test('a gray PNG asked for as RGB, or an RGB one at another size, still comes out right', async () => {
    const gray = random(6 * 6, 11);
    const out = await decodePixels(spec([6, 6], 3), handPng(gray, 6, 6, 1));
    expect(Array.from(out)).toEqual([...gray, ...gray, ...gray]);
    const rgb = await decodePixels(spec([3, 3], 3), handPng(random(6 * 6 * 3, 12), 6, 6, 3));
    expect(rgb.length).toBe(27);
  });
});

describe('bad images', () => {
  test('bytes that are not an image: InputValidationError naming where', async () => {
    const error = await decodeImage(spec([28, 28]), Buffer.from('hello, not an image'), 'samples[3]').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).field).toBe('samples[3]');
    expect((error as Error).message).toMatch(
      /^samples\[3\]: expected a PNG, JPEG or WebP image, received 19 bytes that are not one \(no PNG, JPEG or WebP signature/,
    );
  });

  test.each([
    ['a truncated PNG', async () => (await encode(random(28 * 28, 1), 28, 28, 1)).subarray(0, 60)],
    [
      'a PNG with a corrupt pixel stream',
      () => {
        const png = Buffer.from(handPng(random(28 * 28, 1), 28, 28, 1));
        for (let i = 50; i < 80; i++) png[i] = 0xaa;
        return Promise.resolve(png);
      },
    ],
    ['a truncated JPEG', async () => (await encode(random(28 * 28 * 3, 1), 28, 28, 3, 'jpeg')).subarray(0, 200)],
    ['a truncated WebP', async () => (await encode(random(28 * 28 * 3, 1), 28, 28, 3, 'webp')).subarray(0, 40)],
  ])('%s: InputValidationError, "cannot be decoded"', async (_name, make) => {
    const bytes = await make();
    const error = await decodeImage(spec([28, 28]), bytes, 'sample').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as Error).message).toMatch(
      /^sample: expected a PNG, JPEG or WebP image, received \d+ bytes that cannot be decoded \(corrupt, truncated or unsupported image: /,
    );
  });

  test('many decodes at once all finish (bounded concurrency), in order', async () => {
    const images = await Promise.all(
      Array.from({ length: 40 }, (_, i) => encode(new Uint8Array(10 * 10).fill(i * 5), 10, 10, 1, 'jpeg')),
    );
    const out = await Promise.all(images.map((image) => decodePixels(spec([5, 5]), image)));
    out.forEach((pixels, i) => expect(Math.abs(pixels[12]! - i * 5)).toBeLessThanOrEqual(2));
  });
});
