/** The CNN families' configs: resnet by depth and width (the old one-block-per-stage config still parses the same), wrn, mobilenetv2. */
import { Model } from '../src/config/schema';

describe('CNN family configs', () => {
  test('a resnet without depth means what it meant: channels only, no depth or widen filled in', () => {
    expect(Model.parse({ type: 'resnet' })).toEqual({ type: 'resnet', channels: [16, 32, 64] });
  });

  test('resnet8x4, WRN-40-2 and MobileNetV2 x0.5 parse with their defaults', () => {
    expect(Model.parse({ type: 'resnet', depth: 8, widen: 4 })).toEqual({
      type: 'resnet',
      channels: [16, 32, 64],
      depth: 8,
      widen: 4,
    });
    expect(Model.parse({ type: 'wrn', depth: 40 })).toEqual({ type: 'wrn', depth: 40, widen: 2, dropout: 0 });
    expect(Model.parse({ type: 'mobilenetv2', width: 0.5 })).toEqual({ type: 'mobilenetv2', width: 0.5, dropout: 0 });
  });

  test.each([
    [{ type: 'resnet', depth: 10 }, 'depth', 'expected a depth 6n + 2: 8, 20, 32, 56, …'],
    [{ type: 'resnet', depth: 8, widen: 0 }, 'widen', 'expected a width multiplier > 0'],
    [{ type: 'wrn', depth: 18 }, 'depth', 'expected a depth 6n + 4: 10, 16, 22, 28, 40, …'],
    [{ type: 'mobilenetv2', width: 0 }, 'width', 'expected a width multiplier > 0'],
  ])('%j is refused naming %s', (config, field, message) => {
    const parsed = Model.safeParse(config);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual([field]);
    expect(parsed.error!.issues[0]!.message).toBe(message);
  });
});
