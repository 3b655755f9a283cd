/** `distillery verify`: a run folder checked against its manifest before a model ships. */
import type { Command } from 'commander';
import { verifyRun } from '../../experiment';
import { EXIT, err, out, type Settle } from '../shared';

function verifyCommand(folder: string, options: { json?: boolean }): Promise<number> {
  const result = verifyRun(folder);
  if (options.json) out(JSON.stringify(result, null, 2));
  else if (result.ok)
    out(`✓ ${result.folder}: ${result.checked} artefacts as the manifest lists them; models and provenance consistent`);
  else {
    err(`✗ ${result.folder}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
    for (const problem of result.problems) err(`  ${problem}`);
  }
  return Promise.resolve(result.ok ? EXIT.ok : EXIT.failed);
}

/** Adds `distillery verify` to the program. */
export function registerVerify(program: Command, set: Settle): void {
  program
    .command('verify')
    .description(
      "check a run folder before shipping a model: every artefact as its manifest lists it (sha256), each student's recorded teacher, each model's metadata against report.json, no stray model files",
    )
    .argument('<folder>', 'a run folder (distillery run --out)')
    .option('--json', 'print JSON')
    .action((folder: string, options: Parameters<typeof verifyCommand>[1]) => set(verifyCommand(folder, options)));
}
