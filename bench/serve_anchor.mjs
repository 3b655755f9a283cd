// The anchor of issue 29's load figures: a minimal plain-Node server — node:http and a raw onnxruntime-node
// InferenceSession, no batching, no validation beyond JSON.parse — over the same model `distillery serve` serves.
// POST /v1/models/<any>/predict { "inputs": [[…raw values…]] } → { "predictions": [{ "logits": […] }] }.
//
//   node bench/serve_anchor.mjs <model.onnx> [--threads 1] [--shape 28,28]   prints "listening on http://127.0.0.1:<port>"
//   (--shape: one sample's shape as the graph takes it; default: a flat row)
import * as http from 'node:http';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
/** @type {unknown} */ const loaded = require(path.join(ROOT, 'node_modules', 'onnxruntime-node'));
const ort = /** @type {typeof import('onnxruntime-node')} */ (loaded);

const file = String(process.argv[2]);
const threadsAt = process.argv.indexOf('--threads');
const threads = threadsAt > 0 ? Number(process.argv[threadsAt + 1]) : 1;
const shapeAt = process.argv.indexOf('--shape');
const sampleShape =
  shapeAt > 0
    ? String(process.argv[shapeAt + 1])
        .split(',')
        .map(Number)
    : null;
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const input = String(session.inputNames[0]);
const output = String(session.outputNames[0]);

const server = http.createServer((request, response) => {
  /** @type {Buffer[]} */
  const chunks = [];
  request.on('data', (/** @type {Buffer} */ chunk) => chunks.push(chunk));
  request.on('end', () => {
    void (async () => {
      try {
        /** @type {unknown} */ const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const body = /** @type {{ inputs: number[][] }} */ (parsed);
        const width = body.inputs[0]?.length ?? 0;
        const data = new Float32Array(body.inputs.length * width);
        body.inputs.forEach((row, index) => data.set(row, index * width));
        const result = await session.run({
          [input]: new ort.Tensor('float32', data, [body.inputs.length, ...(sampleShape ?? [width])]),
        });
        const logits = /** @type {Float32Array} */ (result[output]?.data);
        const classes = logits.length / body.inputs.length;
        const predictions = body.inputs.map((_, index) => ({
          logits: Array.from(logits.subarray(index * classes, (index + 1) * classes)),
        }));
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ predictions }));
      } catch (error) {
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
      }
    })();
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  process.stdout.write(`listening on http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
