/** `distillery run`: an experiment file, or one node of a distributed run; `--seeds` repeats it per seed. */
import * as path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadExperimentFile } from '../../config';
import { EngineAbortError, type EngineEvent } from '../../engine';
import { joinDistributedRun, plainTable, run, runSeeds, seedsMarkdown, tableRows } from '../../experiment';
import type { LabellingEvent } from '../../teacher/label';
import { TeacherAbortError } from '../../teacher/schedule';
import { progressReporter } from '../progress';
import { EXIT, device, ensurePython, err, integer, interruptible, out, port, positive, type Settle } from '../shared';

interface RunFlags {
  out?: string;
  device?: string;
  seed?: number;
  seeds?: number[];
  json?: boolean;
  resume?: boolean;
  overwrite?: boolean;
  nprocPerNode?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

async function runCommand(file: string, options: RunFlags): Promise<number> {
  const experiment = loadExperimentFile(file);
  await ensurePython(); // before the progress bars start
  const outDir = path.resolve(options.out ?? path.join('runs', experiment.name));
  const distributed = {
    nprocPerNode: options.nprocPerNode,
    nnodes: options.nnodes,
    nodeRank: options.nodeRank,
    masterAddr: options.masterAddr,
    masterPort: options.masterPort,
  };
  const reporter = progressReporter();
  // What the progress lines said already (the engine logs its data warnings as it finishes): not said twice.
  const logged = new Set<string>();
  const onEvent = (event: EngineEvent): void => {
    if (event.event === 'log') logged.add(event.message);
    reporter.onEvent(event);
  };
  const interrupt = interruptible();
  const command = ['distillery', 'run', ...process.argv.slice(3)].join(' ');
  try {
    const nodeRank = options.nodeRank ?? experiment.distributed?.nodeRank ?? 0;
    if (nodeRank > 0) {
      reporter.note(`distillery run ${file}: node ${nodeRank} — its ranks join the job; node 0 writes ${outDir}`);
      const common = {
        outDir,
        baseDir: path.dirname(path.resolve(file)),
        device: options.device,
        seed: options.seed,
        resume: options.resume,
      };
      await joinDistributedRun(experiment, { ...common, distributed, signal: interrupt.signal });
      reporter.stop();
      err(`node ${nodeRank}: its ranks finished; the report is written by node 0`);
      return EXIT.ok;
    }
    reporter.note(`distillery run ${path.relative(process.cwd(), path.resolve(file)) || file} → ${outDir}`);
    const runOptions = {
      outDir,
      baseDir: path.dirname(path.resolve(file)),
      device: options.device,
      seed: options.seed,
      resume: options.resume,
      overwrite: options.overwrite,
      distributed,
      signal: interrupt.signal,
      command,
      onEvent,
      onLabelling: (event: LabellingEvent) => reporter.onLabelling(event),
      onStage: (stage: 'evaluating' | 'reporting') =>
        reporter.note(
          stage === 'evaluating' ? 'evaluating the ONNX models with onnxruntime-node…' : 'writing the report…',
        ),
    };
    if (options.seeds) {
      if (options.seed !== undefined)
        throw new ConfigError([{ path: '--seeds', message: 'give --seed or --seeds, not both' }]);
      const summary = await runSeeds(experiment, options.seeds, runOptions);
      reporter.stop();
      if (options.json) out(JSON.stringify(summary, null, 2));
      else out(`\n${seedsMarkdown(summary, command)}\nsummary: ${path.join(outDir, 'seeds.md')}`);
      return EXIT.ok;
    }
    const report = await run(experiment, runOptions);
    reporter.stop();
    if (options.json) {
      out(JSON.stringify(report, null, 2));
    } else {
      err('');
      out(plainTable(tableRows(report)));
      // Also in report.md, beside the results; each once: the ones the progress lines showed are not repeated.
      for (const warning of report.warnings)
        if (!logged.has(`warning: ${warning.message}`)) err(`warning: ${warning.message}`);
      out(`\nreport: ${path.join(outDir, 'report.md')}`);
    }
    return EXIT.ok;
  } catch (error) {
    reporter.stop();
    // Interrupted while training, or while a teacher you call was answering (its answers so far are cached).
    if (error instanceof EngineAbortError || error instanceof TeacherAbortError) {
      err(
        `interrupted: finished models are kept in ${outDir}; continue with \`distillery run ${file} --out ${outDir} --resume\``,
      );
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    interrupt.dispose();
  }
}

/** Adds `distillery run` to the program. */
export function registerRun(program: Command, set: Settle): void {
  program
    .command('run')
    .description(
      'run an experiment file (JSON or YAML): train the teacher, distil every student, export and evaluate them',
    )
    .argument('<file>', 'experiment file; `distillery schema` prints its JSON Schema')
    .option('-o, --out <dir>', 'output folder (default: runs/<name>)')
    .option('-d, --device <device>', 'auto | cpu | cuda | cuda:N (overrides the file)', device)
    .option('-s, --seed <n>', 'random seed (overrides the file)', integer)
    .option(
      '--seeds <list>',
      'repeat the whole experiment for each seed (e.g. 0,1,2) into <out>/seed-<s>, then summarise: mean ± sd and the pooled verdict (seeds.md)',
      (value) => value.split(',').map(integer),
    )
    .option('--resume', 'keep finished models in the output folder and continue an unfinished one from its last epoch')
    .option(
      '--overwrite',
      "run into a folder that holds another experiment's run: its artefacts (as its manifest lists them) are removed first",
    )
    .option('--json', 'print report.json to stdout and nothing else')
    .option(
      '--nproc-per-node <n>',
      'train on n ranks on this machine through torchrun (DDP; one GPU each, or gloo on the CPU)',
      positive,
    )
    .option('--nnodes <n>', 'machines taking part (each runs this command with its own --node-rank)', positive)
    .option('--node-rank <r>', "this machine's rank, 0..nnodes-1 (node 0 writes the artefacts and the report)", integer)
    .option('--master-addr <host>', 'address of node 0')
    .option('--master-port <port>', "port of node 0's rendezvous store (default 29500)", port)
    .action((file: string, options: RunFlags) => set(runCommand(file, options)));
}
