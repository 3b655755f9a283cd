/**
 * The browser decoder's placement of an image on the model's canvas (src/web/placement.ts) against sharp's, the Node
 * decoder's: for `contain` the letterbox's position and size, for `cover` the cropped window, on images of several
 * shapes. The pixels' values differ between the two resamplers (docs/RUNTIME.md, "In the browser"); where the image
 * lands must not.
 */
import sharp from 'sharp';
import { placement } from '../src/web/placement';

/** The rows and columns sharp fills with a white image placed on black, by `fit`, at 28×28. */
async function sharpBox(
  width: number,
  height: number,
  fit: 'contain',
): Promise<{ x: number; y: number; w: number; h: number }> {
  const white = await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .png()
    .toBuffer();
  const { data } = await sharp(white)
    .resize({ width: 28, height: 28, fit, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } })
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const lit = (x: number, y: number): boolean => (data[y * 28 + x] ?? 0) > 127;
  const rows = Array.from({ length: 28 }, (_, y) => y).filter((y) =>
    Array.from({ length: 28 }, (_, x) => x).some((x) => lit(x, y)),
  );
  const columns = Array.from({ length: 28 }, (_, x) => x).filter((x) =>
    Array.from({ length: 28 }, (_, y) => y).some((y) => lit(x, y)),
  );
  const y = rows[0] ?? 0;
  const x = columns[0] ?? 0;
  return { x, y, w: (columns[columns.length - 1] ?? 0) - x + 1, h: (rows[rows.length - 1] ?? 0) - y + 1 };
}

describe('placement (the browser decoder’s resize step)', () => {
  test.each([
    [56, 28],
    [28, 56],
    [30, 17],
    [17, 30],
    [100, 99],
    [28, 28],
  ])('contain: a %i×%i image lands where sharp puts it', async (width, height) => {
    const { source, target } = placement('contain', width, height, 28, 28);
    expect(source).toEqual({ x: 0, y: 0, w: width, h: height });
    expect(target).toEqual(await sharpBox(width, height, 'contain'));
  });

  test('cover crops the centre of the longer side; fill stretches the whole image', () => {
    expect(placement('cover', 56, 28, 28, 28)).toEqual({
      source: { x: 14, y: 0, w: 28, h: 28 },
      target: { x: 0, y: 0, w: 28, h: 28 },
    });
    expect(placement('cover', 28, 56, 28, 28).source).toEqual({ x: 0, y: 14, w: 28, h: 28 });
    expect(placement('fill', 56, 28, 28, 28)).toEqual({
      source: { x: 0, y: 0, w: 56, h: 28 },
      target: { x: 0, y: 0, w: 28, h: 28 },
    });
  });
});
