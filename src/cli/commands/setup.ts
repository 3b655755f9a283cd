/** `distillery setup`: the engine's Python environment, made or checked. */
import { execFile } from 'node:child_process';
import type { Command } from 'commander';
import { EngineError, environmentDir, resolveInterpreter } from '../../engine';
import { REQUIREMENTS_FILE, pythonProcessEnv } from '../../engine/environment';
import { plainTable } from '../../experiment';
import { distilleryHome } from '../../io/home';
import { EXIT, err, out, type Settle } from '../shared';

const ENGINE_PACKAGES = ['torch', 'numpy', 'onnx', 'onnxscript', 'onnxruntime'] as const;

interface PythonCheck {
  python: string;
  executable: string;
  packages: Record<string, string | null>;
}

/** Imports the engine's packages with `python` and reports their versions (null: missing). */
function checkPython(python: string): Promise<PythonCheck> {
  const code = [
    'import importlib, json, platform, sys',
    'found = {}',
    `for name in ${JSON.stringify(ENGINE_PACKAGES)}:`,
    '    try:',
    '        found[name] = getattr(importlib.import_module(name), "__version__", "?")',
    '    except Exception:',
    '        found[name] = None',
    'print(json.dumps({"python": platform.python_version(), "executable": sys.executable, "packages": found}))',
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(
      python,
      ['-c', code],
      { env: { ...process.env, ...pythonProcessEnv() }, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error)
          reject(new EngineError(`${python} could not check its packages: ${(stderr || error.message).trim()}`));
        else resolve(JSON.parse(stdout) as PythonCheck);
      },
    );
  });
}

async function setupCommand(options: { json?: boolean }): Promise<number> {
  const explicit = process.env.DISTILLERY_PYTHON;
  if (explicit && !options.json) err(`DISTILLERY_PYTHON is set: using ${explicit} as it is (nothing is created)`);
  const python = await resolveInterpreter();
  const check = await checkPython(python);
  const missing = ENGINE_PACKAGES.filter((name) => !check.packages[name]);
  const environment = explicit ? null : environmentDir();
  const fix =
    environment === null
      ? `\`${python} -m pip install -r ${REQUIREMENTS_FILE}\`, or unset DISTILLERY_PYTHON`
      : `remove ${environment} and run \`npx distillery setup\` again`;
  const problems = missing.map((name) => `the Python package ${name} is missing from ${python}: ${fix}`);
  if (options.json) {
    out(
      JSON.stringify(
        {
          home: distilleryHome(),
          environment,
          python,
          pythonVersion: check.python,
          packages: check.packages,
          problems,
        },
        null,
        2,
      ),
    );
  } else {
    out(
      plainTable([
        ['Python environment', environment ?? `DISTILLERY_PYTHON (${python})`],
        ['interpreter', `${python} (Python ${check.python})`],
        ['packages', ENGINE_PACKAGES.map((name) => `${name} ${check.packages[name] ?? 'MISSING'}`).join(', ')],
      ]),
    );
    for (const problem of problems) out(`✗ ${problem}`);
    if (!problems.length) out("✓ the engine's Python environment is ready");
  }
  return problems.length ? EXIT.failed : EXIT.ok;
}

/** Adds `distillery setup` to the program. */
export function registerSetup(program: Command, set: Settle): void {
  program
    .command('setup')
    .description(
      'create (or check) the Python environment the engine runs in; `run`, `doctor` and Engine.start() also do it on first use',
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      [
        '',
        'The environment is a Python virtual environment made from requirements.txt (torch, numpy, onnx,',
        'onnxscript, onnxruntime; about 1 GB, a few minutes to download once) with the first Python 3.10+',
        'on PATH. It lives outside node_modules, in a per-user cache shared by every project on the machine:',
        '  <home>/python-<hash of requirements.txt>',
        'where <home> is $DISTILLERY_HOME, else $XDG_CACHE_HOME/distillery, else ~/.cache/distillery.',
        'Two processes setting it up at once are safe: the second waits for the first.',
        '',
        'DISTILLERY_PYTHON=/path/to/python uses that interpreter as it is (it needs the packages of',
        'requirements.txt) and nothing is created.',
      ].join('\n'),
    )
    .action((options: Parameters<typeof setupCommand>[0]) => set(setupCommand(options)));
}
