/**
 * Where an image goes on the model's canvas, as sharp places it (centred): the browser decoder's resize step
 * (src/web/platform.ts). Apart from the platform so that it is tested in Node (test/web.placement.test.ts).
 */
import type { ImagePreprocessSpec } from '../preprocess/spec';

/** A rectangle in pixels (fractional for a crop of the source). */
export interface Rect {
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
