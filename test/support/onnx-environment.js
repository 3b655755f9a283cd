'use strict';
// A jest environment for tests that run onnxruntime-node.
//
// Jest runs each test file in its own vm context, whose typed-array
// constructors differ from Node's main realm. onnxruntime-node's native code
// creates output tensors' data (Float32Array, …) in the main realm, and
// onnxruntime-common's Tensor then checks them with `instanceof` against the
// test context's constructors, which fails with "A float32 tensor's data must
// be type of function Float32Array()". jest-environment-node already shares
// ArrayBuffer and Uint8Array for the same reason (Buffer); this shares the rest.
//
// Use it with a docblock at the top of a test file:
//   /** @jest-environment ./test/support/onnx-environment.js */
// or as `testEnvironment` in jest.config.js.
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class OnnxTestEnvironment extends TestEnvironment {
  /**
   * @param {ConstructorParameters<typeof TestEnvironment>[0]} config
   * @param {ConstructorParameters<typeof TestEnvironment>[1]} context
   */
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OnnxTestEnvironment;
