/** `distillery doctor`: Node, Python, torch, CUDA, onnx and onnxruntime, with a fix for anything missing. */
import type { Command } from 'commander';
import { Engine, type DoctorResult } from '../../engine';
import { plainTable } from '../../experiment';
import { EXIT, ensurePython, out, packageVersion, type Settle } from '../shared';

async function doctorCommand(options: { json?: boolean }): Promise<number> {
  const report: Record<string, unknown> = { node: process.versions.node, onnxruntimeNode: onnxruntimeNodeVersion() };
  const problems: string[] = [];
  let python: DoctorResult | undefined;
  try {
    await ensurePython();
    const engine = await Engine.start();
    try {
      python = await engine.call('doctor', {});
    } finally {
      await engine.close();
    }
    Object.assign(report, python);
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (Number(process.versions.node.split('.')[0]) < 20)
    problems.push('Node 20 or newer is required: install it from nodejs.org');
  for (const pkg of ['onnx', 'onnxscript', 'onnxruntime', 'numpy'] as const) {
    if (python && !python[pkg])
      problems.push(
        `the Python package ${pkg} is missing: \`${python.executable} -m pip install -r requirements.txt\``,
      );
  }
  if (!report.onnxruntimeNode)
    problems.push('onnxruntime-node is missing: run `npm ci` (with ONNXRUNTIME_NODE_INSTALL=skip offline)');
  report.problems = problems;
  if (options.json) {
    out(JSON.stringify(report, null, 2));
  } else {
    const cuda = python
      ? python.cuda
        ? `yes — ${python.cudaDevices.join(', ')}`
        : 'no (training runs on the CPU)'
      : '?';
    const rows = [
      ['Node', process.versions.node],
      ['onnxruntime-node', onnxruntimeNodeVersion() ?? 'missing'],
      ['Python', python ? `${python.python} (${python.executable})` : 'not working'],
      ['torch', python?.torch ?? '—'],
      ['CUDA', cuda],
      ['torch threads', python ? String(python.threads) : '—'],
      [
        'numpy / onnx / onnxscript / onnxruntime',
        python
          ? [python.numpy, python.onnx, python.onnxscript, python.onnxruntime].map((v) => v ?? 'missing').join(' / ')
          : '—',
      ],
      ['methods', python ? python.methods.join(', ') : '—'],
    ];
    out(plainTable(rows));
    for (const problem of problems) out(`✗ ${problem}`);
    if (!problems.length) out('✓ everything Distillery needs is here');
  }
  return problems.length ? EXIT.failed : EXIT.ok;
}

function onnxruntimeNodeVersion(): string | null {
  try {
    return packageVersion(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return null;
  }
}

/** Adds `distillery doctor` to the program. */
export function registerDoctor(program: Command, set: Settle): void {
  program
    .command('doctor')
    .description(
      'check Node, Python, torch, CUDA, onnx and onnxruntime; exits non-zero with a fix for anything missing',
    )
    .option('--json', 'print JSON')
    .action((options: Parameters<typeof doctorCommand>[0]) => set(doctorCommand(options)));
}
