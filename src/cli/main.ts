/**
 * The `distillery` command line: run, eval, bench, predict, serve, quantize, setup, verify, doctor, schema — one
 * module each under commands/, registered here in the order `--help` lists them.
 */
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config';
import { EngineError, PACKAGE_ROOT, PythonError } from '../engine';
import { registerBench } from './commands/bench';
import { registerDoctor } from './commands/doctor';
import { registerEval } from './commands/eval';
import { registerPredict } from './commands/predict';
import { registerQuantize } from './commands/quantize';
import { registerRun } from './commands/run';
import { registerSchema } from './commands/schema';
import { registerServe } from './commands/serve';
import { registerSetup } from './commands/setup';
import { registerVerify } from './commands/verify';
import { EXIT, err, packageVersion, type Settle } from './shared';

/** The program with every command; `exit.code` receives the exit code of the command that ran. */
export function buildProgram(exit: { code: number }): Command {
  const program = new Command('distillery')
    .description('Train a teacher, distil small students, ship them as ONNX.')
    .version(packageVersion(path.join(PACKAGE_ROOT, 'package.json')))
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    });
  const set: Settle = (promise) => promise.then((code) => void (exit.code = code));

  registerRun(program, set);
  registerEval(program, set);
  registerBench(program, set);
  registerPredict(program, set);
  registerServe(program, set);
  registerQuantize(program, set);
  registerSetup(program, set);
  registerVerify(program, set);
  registerDoctor(program, set);
  registerSchema(program);
  return program;
}

function explain(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof PythonError) {
    const where = error.field ? ` [${error.field}]` : error.file ? ` [${error.file}]` : '';
    return `error${where}: ${error.message}${process.env.DISTILLERY_DEBUG ? `\n${error.pythonTraceback}` : ''}`;
  }
  if (error instanceof EngineError) return `error: ${error.message}`;
  if (error instanceof Error)
    return `error: ${error.message}${process.env.DISTILLERY_DEBUG ? `\n${error.stack ?? ''}` : ''}`;
  return `error: ${String(error)}`;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const exit = { code: EXIT.ok as number };
  try {
    await buildProgram(exit).parseAsync(argv);
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    err(explain(error));
    return error instanceof ConfigError ? EXIT.usage : EXIT.failed;
  }
}
