import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tempDir } from './support/tiny';

/** A copy of the bootstrap in an empty project (no .venv), run with a PATH we control. */
function bootstrapWith(pathDirs: string[]): { status: number | null; stderr: string } {
  const project = tempDir('bootstrap');
  fs.mkdirSync(path.join(project, 'scripts'));
  fs.copyFileSync(path.join(ROOT, 'scripts', 'bootstrap.js'), path.join(project, 'scripts', 'bootstrap.js'));
  fs.copyFileSync(path.join(ROOT, 'requirements.txt'), path.join(project, 'requirements.txt'));
  const script = `try { require(${JSON.stringify(path.join(project, 'scripts', 'bootstrap.js'))}).ensurePython(true, false) } catch (e) { console.error(e.message); process.exit(3) }`;
  const env = { PATH: pathDirs.join(path.delimiter), HOME: process.env.HOME ?? '/tmp' };
  const result = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('the bootstrap and Python', () => {
  test('no python3 on PATH: one clear message saying what to install', () => {
    const bin = tempDir('no-python');
    const result = bootstrapWith([bin]);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('Python 3.10+ was not found on PATH');
    expect(result.stderr).toContain('DISTILLERY_PYTHON');
  });

  test('a too-old python3: says which version it found and what is needed', () => {
    const bin = tempDir('old-python');
    const fake = path.join(bin, 'python3');
    fs.writeFileSync(fake, '#!/bin/sh\necho 3.8\n');
    fs.chmodSync(fake, 0o755);
    const result = bootstrapWith([bin]); // the fake's #!/bin/sh needs no PATH
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('is Python 3.8, but Distillery needs 3.10+');
  });

  test('with nothing to do it returns at once', () => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bootstrap.js'), '--dev', '--quiet'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
