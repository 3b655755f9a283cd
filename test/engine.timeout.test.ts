import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../src/engine';

// pythonia gives every call a timeout (REQ_TIMEOUT, 100 s by default) and a
// `$timeout` of 0 does not lift it. Training calls routinely run longer, so
// the engine must lift it for real: shrink pythonia's default to 1 s here
// (it is read when pythonia is first required) and run a call that takes longer.
process.env.REQ_TIMEOUT = '1000';

test("a call longer than pythonia's request timeout completes", async () => {
  const engine = await Engine.start();
  try {
    const started = Date.now();
    const result = await engine.call('train_teacher', {
      device: 'cpu',
      outDir: path.join(os.tmpdir(), 'distillery-timeout'),
      data: {
        train: { type: 'mnist', split: 'train', offset: 0, limit: 4000, labelled: true },
        test: { type: 'mnist', split: 'test', offset: 0, limit: 100, labelled: true },
      },
      teacher: {
        type: 'train',
        name: 'slow',
        model: { type: 'mlp', hidden: [256, 256] },
        training: {
          epochs: 12,
          batchSize: 16,
          optimizer: { type: 'adam', lr: 0.001 },
          weightDecay: 0,
          schedule: { type: 'constant' },
        },
      },
    });
    expect(Date.now() - started).toBeGreaterThan(1500); // well past the 1 s timeout, even on a quiet machine
    expect(result.history).toHaveLength(12);
  } finally {
    await engine.close();
  }
});
