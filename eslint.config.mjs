// ESLint for the whole repository's JavaScript and TypeScript: the library (src/), its tests (test/),
// the benchmarks (bench/), the repository scripts (scripts/) and the `distillery` command (bin/).
// typescript-eslint's strictest type-aware sets apply everywhere, JavaScript included: tsconfig.eslint.json
// (allowJs) puts the .js/.mjs files in the typed program, so the type-aware rules see real types there too.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node's globals that the JavaScript files use (TypeScript files get them from @types/node instead). */
const NODE_GLOBALS = {
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  performance: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  URL: 'readonly',
  fetch: 'readonly',
};

export default defineConfig(
  {
    // What .gitignore ignores too: CI's fresh engine environment lives in .cache/ inside the clone.
    ignores: [
      '.cache/**',
      '.venv/**',
      '.whl/**',
      '.gpu/**',
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'runs/**',
      // examples/ are data and experiment files, but for the example page's sources (examples/web/src).
      'examples/*',
      '!examples/web',
      'examples/web/*',
      '!examples/web/src',
      'docs/**',
      'models/**',
      'python/**',
      'bench/out/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    // One typed program for every linted file. Not `projectService`: it would use the nearest tsconfig.json, which
    // leaves JavaScript out (no allowJs, so `tsc` stays about TypeScript), and its fallback for files outside any
    // project (allowDefaultProject) is meant for a handful of files, not for bench/ and scripts/.
    // The browser's code has its own program (tsconfig.web.json: the DOM library, which the Node program leaves out).
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.eslint.json', './tsconfig.web.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are deliberately unused (destructuring a key away, an ignored parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Messages and logs print counts, sizes and timings: numbers read fine in a template. Booleans, nullish
      // values, objects and `any` do not (`undefined`, `[object Object]`), so those stay errors.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowBoolean: false,
          allowAny: false,
          allowNullish: false,
          allowRegExp: false,
          allowNever: false,
        },
      ],
      // `expect(() => model.close()).not.toThrow()`, `.on('exit', () => resolve())`: an arrow's shorthand body is how a
      // callback is written, whatever it returns. Void values inside other expressions stay errors.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // This stylistic rule rewrites `x as T` into `x!`, which no-non-null-assertion (strict) then forbids: the two
      // pull in opposite directions. We keep no-non-null-assertion and prefer narrowing to either form.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
    },
  },
  {
    // Without a "type" field in package.json, .js files are CommonJS: `require` is how they import, and they must
    // run before dist/ is built (bootstrap, the bin entry), so there is no compile step to turn imports into requires.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...NODE_GLOBALS, __dirname: 'readonly', __filename: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: NODE_GLOBALS },
  },
  {
    // `expect(x).toBeDefined()` followed by `x!` is the idiomatic way to assert and then use a value in a test;
    // a failed assertion stops the test before the `!` matters. Library code narrows instead.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      // What a test asserts on is often JSON that a child process printed (`distillery run --json`, doctor, bench):
      // the shape is what is under test, field by field. Casting it to the report's type first would assert nothing
      // and only silence these rules, so they stay on for src/, bench/ and scripts/ and off here.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
