// Checks the API reference without writing it: TypeDoc's programmatic API converts the entry points of a TypeDoc
// config (default: typedoc.json at the root) and validates them (every exported symbol documented, no link or export
// left dangling), exactly as `typedoc` does before it writes docs/api/. Its messages go to the console; the last
// line of stdout is the summary as JSON, `{"errors":N,"warnings":M}`. Exit code 0 only with no error and no warning.
// test/api-docs.test.ts runs it on typedoc.json and on a scratch project with an undocumented export.
//
//   node scripts/api-docs.mjs [--options path/to/typedoc.json]
import { Application, TSConfigReader, TypeDocReader } from 'typedoc';

const at = process.argv.indexOf('--options');
const options = at === -1 ? 'typedoc.json' : process.argv[at + 1];
if (!options) throw new Error('usage: node scripts/api-docs.mjs [--options path/to/typedoc.json]');

const app = await Application.bootstrapWithPlugins({ options }, [new TypeDocReader(), new TSConfigReader()]);
const project = await app.convert();
if (project) app.validate(project);
const { errorCount, warningCount } = app.logger;
// A failed conversion (no project) is an error even if TypeDoc logged none.
const errors = errorCount + (project ? 0 : 1);
console.log(JSON.stringify({ errors, warnings: warningCount }));
process.exitCode = errors + warningCount === 0 ? 0 : 1;
