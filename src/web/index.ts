/**
 * `distillery/web`: run exported models in a web page or a worker with onnxruntime-web — the same `OnnxModel` API,
 * metadata contract and preprocessing (table rows, image normalisation, tokenization) as `distillery/runtime`, from
 * the same code, behind a small platform seam. Nothing it loads imports a Node built-in, sharp or onnxruntime-node
 * (.dependency-cruiser.cjs checks it; test/web.test.ts bundles it for the browser and runs it in Chromium, and
 * test/install.test.ts bundles the packed package's dist/web/index.mjs).
 *
 * This file is a public entry point: no module in src imports it.
 *
 * @module distillery/web
 */
export { OnnxModel, type ModelSource } from './model';
export { wasmThreads, type WebBackend, type WebLoadOptions } from './platform';
// What the Node entry ships too: one list (src/runtime/shared-api.ts).
export * from '../runtime/shared-api';
