import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { tempDir } from './support/tiny';

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');

/** The README stays a five-minute read; machine-by-machine detail belongs in docs/BENCHMARKS.md. */
const MAX_README_LINES = 200;

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  for (const match of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = match[1]!
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Every relative link of a Markdown file (not in code blocks) that points at a missing file or heading. */
function brokenLinks(file: string): string[] {
  const markdown = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const broken: string[] = [];
  for (const match of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    const link = match[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:, …
    const [target = '', anchor] = link.split('#');
    const resolved = target === '' ? file : path.resolve(path.dirname(file), target);
    if (!fs.existsSync(resolved)) {
      broken.push(`${link}: no such file`);
      continue;
    }
    if (anchor !== undefined && resolved.endsWith('.md') && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
      broken.push(`${link}: no such heading`);
    }
  }
  return broken;
}

test("the README's TypeScript example type-checks against the real API", () => {
  const readme = fs.readFileSync(README, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
  expect(blocks.length).toBeGreaterThanOrEqual(1);
  const file = path.join(ROOT, 'test', '__readme_example__.ts');
  const host = ts.createCompilerHost({});
  const read = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? blocks.join('\n') : read(name));
  const exists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || exists(name);
  const program = ts.createProgram(
    [file],
    {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      esModuleInterop: true,
      skipLibCheck: true,
      types: ['node'],
      baseUrl: ROOT,
      paths: { distillery: ['src/index.ts'], 'distillery/runtime': ['src/runtime/index.ts'] },
    },
    host,
  );
  const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  expect(problems).toEqual([]);
});

test(`the README is at most ${MAX_README_LINES} lines`, () => {
  const lines = fs.readFileSync(README, 'utf8').replace(/\n$/, '').split('\n').length;
  expect(lines).toBeLessThanOrEqual(MAX_README_LINES);
});

test.each(['README.md', 'docs/BENCHMARKS.md'])(
  'every relative link in %s points at a file and heading that exist',
  (name) => {
    expect(brokenLinks(path.join(ROOT, name))).toEqual([]);
  },
);

test('the link check sees a missing file and a missing heading', () => {
  const dir = tempDir('readme-links');
  try {
    const file = path.join(dir, 'a.md');
    fs.writeFileSync(
      file,
      '# A title\n\n[ok](#a-title) [bad](#nowhere) [gone](missing.md) [web](https://example.com)\n',
    );
    expect(brokenLinks(file)).toEqual(['#nowhere: no such heading', 'missing.md: no such file']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
