/**
 * `distillery/runtime` must be usable where Python is not: importing and using
 * it may not load the pythonia bridge (src/engine), the training facade
 * (src/index.ts), or start any process.
 */
import type * as ChildProcess from 'node:child_process';
import type * as Runtime from '../src/runtime';
import { expected, fixture } from './fixtures/expected';

// require, not import: an `import * as` namespace is a copy, and spying on it
// would not catch calls made through the real module object.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const childProcess: typeof ChildProcess = require('node:child_process');
const PROCESS_STARTERS = ['spawn', 'spawnSync', 'fork', 'exec', 'execSync', 'execFile', 'execFileSync'] as const;

test('importing and using the runtime loads no Python bridge and starts no process', async () => {
  const spies = PROCESS_STARTERS.map((name) => jest.spyOn(childProcess, name));
  try {
    // Nothing but fixture helpers is loaded before this line (imports above are type-only).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const runtime = require('../src/runtime') as typeof Runtime;
    const model = await runtime.OnnxModel.load(fixture('iris_student.onnx'));
    await model.predict(expected.iris.samples[0] ?? []);
    await runtime.evaluate(model, fixture('iris.npz'));
    await model.close();

    const loaded = Object.keys(require.cache).map((file) => file.split('\\').join('/'));
    expect(loaded).toContainEqual(expect.stringMatching(/\/src\/runtime\/index\.ts$/));
    expect(loaded).toContainEqual(expect.stringMatching(/\/src\/eval\/index\.ts$/));
    expect(loaded.filter((file) => /pythonia|\/src\/engine\/|\/src\/index\.ts$|\/src\/cli\//.test(file))).toEqual([]);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
});
