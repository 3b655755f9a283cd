/** Tiny experiments on a slice of the embedded MNIST: real code paths, a few seconds each. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'distillery.js');

/**
 * A fresh folder under the system's temp folder. Its name carries this jest run's id (test/support/temp-dirs.js), and
 * the run's global teardown removes every such folder, so the suite leaves nothing behind.
 */
export function tempDir(prefix: string): string {
  const run = process.env.DISTILLERY_TEST_RUN ?? 'adhoc';
  return fs.mkdtempSync(path.join(os.tmpdir(), `distillery-${run}-${prefix}-`));
}

export const tinyData = {
  train: { type: 'mnist', split: 'train', limit: 600 },
  test: { type: 'mnist', split: 'test', limit: 200 },
} as const;

const quick = { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } } as const;

export function tinyExperiment(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'tiny',
    seed: 0,
    device: 'cpu',
    data: tinyData,
    teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training: quick },
    students: [
      { name: 'hard', model: { type: 'mlp', hidden: [16] }, method: { type: 'hard-labels' }, training: quick },
      {
        name: 'soft',
        model: { type: 'mlp', hidden: [16] },
        method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
        training: quick,
      },
      {
        name: 'mimic',
        model: { type: 'mlp', hidden: [64], bottleneck: 8 },
        method: { type: 'logit-regression' },
        training: quick,
      },
    ],
    evaluate: { benchmark: true },
    ...overrides,
  };
}

export function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

/** Pids of pythonia's Python processes (the engine), to check that none is left behind. */
export function enginePids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('pythonia') && cmdline.includes('interface.py')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
