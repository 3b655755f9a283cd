/**
 * The layers of src/, as rules: `npm run lint:layers` (part of `npm run lint`, so of `npm test`) fails on any
 * violation. docs/ARCHITECTURE.md ("Layers") shows the same order; change both together.
 *
 * Each layer is a folder of src/ and may import only the layers listed before it (and itself). The order follows
 * the data flow: shared errors, the config every step reads, the encoding of raw input, ONNX inference and its
 * evaluation (everything below io is what `distillery/runtime` ships), files on disk, the engine's contract and
 * bridge, data preparation (which produces the engine's data config), the two public APIs, the HTTP server, the CLI.
 * The entry points sit above all of them.
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */

/**
 * Bottom to top. `runtime` is src/runtime without its index.ts, which is the `distillery/runtime` entry point; `web`
 * (the browser's platform) is src/web without its index.ts, the `distillery/web` entry point.
 */
const LAYERS = [
  'core',
  'config',
  'preprocess',
  'runtime',
  'web',
  'eval',
  'io',
  'engine',
  'data',
  'teacher',
  'facade',
  'experiment',
  'serve',
  'cli',
];

/** The files package.json's `exports` map points at (dist/index.js, dist/runtime/index.js, dist/web/index.mjs). */
const ENTRY_POINTS = '^src/(index|runtime/index|web/index)\\.ts$';

/**
 * A layer's modules, as a path pattern; the runtime's public entry point is not part of its layer.
 * @param {string} layer
 */
const layerPath = (layer) =>
  layer === 'runtime' || layer === 'web' ? `^src/${layer}/(?!index\\.ts$)` : `^src/${layer}/`;

/** One rule per layer: it never imports a layer above it. */
const layerRules = LAYERS.slice(0, -1).map((layer, index) => {
  const above = LAYERS.slice(index + 1);
  return {
    name: `layer-${layer}`,
    comment:
      `src/${layer} may import ${index === 0 ? 'nothing else in src' : `only ${LAYERS.slice(0, index).join(', ')}`}: a lower layer that ` +
      `imports a higher one (${above.join(', ')}) turns the layers into a knot, where no part can be understood, tested ` +
      'or shipped without the parts built on top of it.',
    severity: 'error',
    from: { path: layerPath(layer) },
    to: { path: `^src/(${above.join('|')})/` },
  };
});

/** The npm packages preprocess and the runtime use; the Node-only ones only behind the platform seam (see below). */
const RUNTIME_PACKAGES = [
  'zod',
  'fflate',
  'onnx-proto',
  'onnxruntime-common',
  'onnxruntime-node',
  'piscina',
  'sharp',
  '@huggingface/tokenizers',
];

/** What `distillery/web` must never load, however indirectly: Node built-ins, native packages, Node's platform. */
const NODE_ONLY = [
  '^(node:)?(assert|buffer|child_process|cluster|crypto|dgram|dns|events|fs|http|http2|https|module|net|os|path|perf_hooks|process|readline|stream|string_decoder|timers|tls|tty|url|util|v8|vm|worker_threads|zlib)(/|$)',
  'node_modules/(sharp|onnxruntime-node|piscina|pythonia)/',
  '^src/runtime/(model|session|pool|pool-worker)\\.ts$',
  '^src/preprocess/image\\.ts$',
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'No import circles, type-only ones included: a circle means two modules are one module in two files, and ' +
        'its load order (which half sees the other undefined) depends on who imports it first.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'no-import-of-entry-points',
      comment:
        'src/index.ts and src/runtime/index.ts are the public surface; modules inside src import the module that ' +
        'defines a thing, never an entry point, so that an entry point can re-export freely (the runtime entry ' +
        'ships eval) without making a circle or pulling a layer into the ones below it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: ENTRY_POINTS },
    },
    {
      name: 'runtime-and-preprocess-stay-python-free',
      comment:
        'preprocess and the runtime are what `distillery/runtime` (and the browser entry of issue 30) ship: they never ' +
        'import the engine, the facade, experiments, data preparation, the CLI or file writing (src/io). The layer ' +
        'order says so too; this rule keeps saying it if the order is ever changed.',
      severity: 'error',
      from: { path: '^src/(preprocess|runtime)/' },
      to: { path: '^src/(io|engine|data|facade|experiment|cli)/' },
    },
    {
      name: 'runtime-entry-never-reaches-python',
      comment:
        '`distillery/runtime` is Python-free by construction: nothing it loads, however indirectly, imports the ' +
        'engine or pythonia (test/runtime.isolation.test.ts checks the same at run time).',
      severity: 'error',
      from: { path: '^src/runtime/index\\.ts$' },
      to: { path: ['^src/engine/', 'node_modules/pythonia/'], reachable: true },
    },
    {
      name: 'web-entry-is-browser-safe',
      comment:
        '`distillery/web` runs in a page: nothing it loads, however indirectly, imports a Node built-in, a native ' +
        "package or Node's side of the platform seam (test/web.test.ts bundles it for the browser, which would fail too).",
      severity: 'error',
      from: { path: '^src/web/index\\.ts$' },
      to: { path: NODE_ONLY, reachable: true },
    },
    {
      name: 'web-packages',
      comment:
        'src/web uses onnxruntime-web and the runtime packages that run in a browser: another package there is shipped to ' +
        'every page that uses `distillery/web`.',
      severity: 'error',
      from: { path: '^src/web/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: 'node_modules/(zod|onnxruntime-web|onnxruntime-common)/',
      },
    },
    {
      name: 'runtime-and-preprocess-packages',
      comment:
        `preprocess and the runtime use only ${RUNTIME_PACKAGES.join(', ')}: another package there is shipped to ` +
        'every user of `distillery/runtime` (and may not run in a browser), so adding one is a decision to make ' +
        'here, in this list, not by the way.',
      severity: 'error',
      from: { path: '^src/(preprocess|runtime)/' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: `node_modules/(${RUNTIME_PACKAGES.join('|')})/`,
      },
    },
    {
      name: 'pythonia-only-in-the-engine',
      comment: 'The bridge to Python is src/engine: every other layer reaches Python through Engine, never by itself.',
      severity: 'error',
      from: { pathNot: '^src/engine/' },
      to: { path: 'node_modules/pythonia/' },
    },
    {
      name: 'src-never-imports-tests',
      comment:
        'The package ships src/ (as dist/) without test/: an import of a test file would break the installed package.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'src-never-imports-dev-dependencies',
      comment:
        'devDependencies are not installed for users of the package: src/ may import only dependencies (and src/web ' +
        'its optional peer onnxruntime-web, which a project that uses `distillery/web` installs).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/web/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable',
      comment:
        'An import that resolves to nothing fails at run time; tsc catches most, this catches the rest (e.g. a require()).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports are dependencies too: a type-only circle still ties two modules together.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
