/**
 * What every command of the `distillery` CLI shares: exit codes, output, option parsers, Ctrl-C handling.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { resolveInterpreter } from '../engine';

/** Exit codes: 0 done, 1 failed, 2 bad usage or config, 130 interrupted (Ctrl-C). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
export const err = (text: string): void => {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
};

/** Hands a command's exit code to the program (`buildProgram` in main.ts) once the command has finished. */
export type Settle = (command: Promise<number>) => Promise<void>;

export function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return parsed;
}

export function positive(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

export function device(value: string): string {
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(value)) throw new InvalidArgumentError('expected auto, cpu, cuda or cuda:N');
  return value;
}

/**
 * The engine's Python environment is made on first use (progress on stderr), so `npx distillery run`
 * works right after `npm install`; DISTILLERY_PYTHON is used as is.
 */
export async function ensurePython(): Promise<string> {
  return resolveInterpreter();
}

/** Ctrl-C: the first aborts cleanly (Python stops between batches); a second one forces the exit. */
export function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let presses = 0;
  const onSigint = (): void => {
    presses += 1;
    if (presses === 1) {
      err('\nstopping after the current batch… (Ctrl-C again to force)');
      controller.abort();
    } else {
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

export function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535)
    throw new InvalidArgumentError('expected a port 1-65535');
  return parsed;
}

export function packageVersion(file: string): string {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
