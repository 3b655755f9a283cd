/**
 * Distributed runs from TypeScript: `distillery run --nproc-per-node 2` launches the engine through torchrun
 * (src/engine/distributed.ts → python -m distillery → torch.distributed.run), 2 gloo ranks on the CPU; rank 0's
 * events and result come back as JSON lines; an abort stops every rank; bad distributed settings are refused.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ConfigError } from '../src/config';
import { Experiment } from '../src/config/schema';
import { EngineAbortError, RankFailedError, errorFromPython } from '../src/engine';
import { run } from '../src/experiment';
import { CLI, ROOT, tempDir, tinyExperiment } from './support/tiny';

/** Processes still running a request file of `folder` (a launcher or a rank): none may outlive its run. */
function processesOf(folder: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(folder)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('distillery run --nproc-per-node 2 --device cpu', () => {
  test('trains with 2 gloo ranks; report.json records them; the folder verifies', () => {
    const outDir = path.join(tempDir('ddp-cli'), 'out');
    const result = spawnSync(
      process.execPath,
      [CLI, 'run', 'examples/tiny.json', '--nproc-per-node', '2', '--device', 'cpu', '--out', outDir, '--json'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      },
    );
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.status).toBe(0);
    const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(report.distributed).toEqual({ worldSize: 2, backend: 'gloo', nodes: 1, batch: 'global' });
    expect(report.device).toBe('cpu');
    expect(report.students[0].test.accuracy).toBeGreaterThan(0.5);
    expect(report.teacher.history).toHaveLength(3);
    // how it was launched is not part of the experiment's identity: the manifest's config has no distributed block
    expect(JSON.parse(fs.readFileSync(path.join(outDir, 'manifest.json'), 'utf8')).config.distributed).toBeUndefined();
    expect(JSON.parse(fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8')).distributed).toMatchObject({
      nprocPerNode: 2,
    });
  });

  test('two "nodes" on localhost: node 0 writes the report, node 1 only runs its rank', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as net.AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const outDir = path.join(tempDir('ddp-nodes'), 'out');
    const node = (rank: number): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const args = [
          'run',
          'examples/tiny.json',
          '--device',
          'cpu',
          '--out',
          outDir,
          '--nnodes',
          '2',
          '--node-rank',
          String(rank),
          '--nproc-per-node',
          '1',
        ];
        const child = spawn(
          process.execPath,
          [CLI, ...args, '--master-addr', '127.0.0.1', '--master-port', String(port), '--json'],
          { cwd: ROOT },
        );
        let stderr = '';
        child.stdout.resume();
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const [first, second] = await Promise.all([node(0), node(1)]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(second.stderr).toContain('node 1: its ranks finished; the report is written by node 0');
    const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as { distributed: unknown };
    expect(report.distributed).toEqual({ worldSize: 2, backend: 'gloo', nodes: 2, batch: 'global' });
  });

  test('an abort stops every rank and rejects with EngineAbortError', async () => {
    const folder = tempDir('ddp-abort');
    const controller = new AbortController();
    const long = { epochs: 200, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } };
    const experiment = tinyExperiment({
      teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, training: long },
      students: [
        { name: 'soft', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' }, training: long },
      ],
    });
    const started = run(experiment as never, {
      outDir: path.join(folder, 'out'),
      distributed: { nprocPerNode: 2 },
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === 'epoch') controller.abort();
      },
    });
    await expect(started).rejects.toBeInstanceOf(EngineAbortError);
    const deadline = Date.now() + 10_000;
    while (processesOf(folder).length && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(processesOf(folder)).toEqual([]);
  });
});

describe('distributed settings', () => {
  const base = tinyExperiment();
  test.each([
    [{ nprocPerNode: 0 }, 'distributed.nprocPerNode', 'expected a number of ranks > 0'],
    [{ nnodes: 2, nodeRank: 2, masterAddr: 'h' }, 'distributed.nodeRank', 'expected 0..1 for 2 nodes'],
    [{ nnodes: 2, nodeRank: 1 }, 'distributed.masterAddr', 'needs the address of node 0'],
    [{ masterPort: 70000 }, 'distributed.masterPort', 'expected a port 1-65535'],
  ])('%j is refused naming %s', (distributed, field, words) => {
    const parsed = Experiment.safeParse({ ...base, distributed });
    expect(parsed.success).toBe(false);
    const issue = parsed.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(field);
    expect(issue.message).toContain(words);
  });

  test('run() on a node other than 0 is refused: that node joins with joinDistributedRun()', async () => {
    const error = await run({ ...base, distributed: { nnodes: 2, nodeRank: 1, masterAddr: '127.0.0.1' } } as never, {
      outDir: tempDir('ddp-node'),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('distributed.nodeRank');
  });

  test('a RankFailedError envelope becomes a RankFailedError naming the rank', () => {
    const error = errorFromPython({
      type: 'RankFailedError',
      message: 'rank 1 (local rank 1, pid 7) was killed by signal SIGKILL',
      field: null,
      file: null,
      details: { rank: 1, reason: 'died' },
      traceback: '',
    });
    expect(error).toBeInstanceOf(RankFailedError);
    expect((error as RankFailedError).rank).toBe(1);
  });
});
