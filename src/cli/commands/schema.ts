/** `distillery schema`: the experiment file's JSON Schema, or the config reference as Markdown. */
import type { Command } from 'commander';
import { experimentJsonSchema } from '../../config';
import { configReferenceMarkdown } from '../../config/reference';
import { out } from '../shared';

/** Adds `distillery schema` to the program. */
export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description("print the experiment file's JSON Schema (generated from the zod schemas)")
    .option('--markdown', 'print the config reference (docs/CONFIG.md) instead')
    .action((options: { markdown?: boolean }) => {
      out(options.markdown ? configReferenceMarkdown() : JSON.stringify(experimentJsonSchema(), null, 2));
    });
}
