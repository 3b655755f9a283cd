/** @type {import('jest').Config} */
module.exports = {
  // onnxruntime-node's tensors need the main realm's typed arrays (see the file).
  testEnvironment: '<rootDir>/test/support/onnx-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Each run's temp folders (tempDir in test/support/tiny.ts) are removed when it ends.
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
  // Python-backed tests share one machine with 2 cores: run files one at a time
  // so that training tests do not fight over the CPU and time out.
  maxWorkers: 1,
  testTimeout: 120000,
  // Fail loudly if anything (a Python child, a timer) keeps Node alive.
  detectOpenHandles: false,
  forceExit: false,
};
