/**
 * `distillery serve` (issue 29): real HTTP on localhost (port 0). A run folder made here, without Python, from the
 * fixture models (iris as numbers and as table rows, the MNIST student as images), verified as a run's folder is;
 * every route, every documented error status, the token, the OpenAPI document, /metrics, back-pressure (503), the
 * request timeout (408), a tampered folder refused, and SIGTERM draining in a child process (`bin/distillery.js`).
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import type { Piscina } from 'piscina';
import { OnnxModel, PredictionPool, type Prediction } from '../src/runtime';
import type { PoolTask } from '../src/runtime/pool-worker';
import { serve, ServeSetupError, type RunningServer } from '../src/serve';
import { expected, fixture } from './fixtures/expected';
import { closeIfOpened } from './support/hooks';
import { CLI, ROOT, tempDir } from './support/tiny';

const MNIST = path.join(ROOT, 'models', 'mnist-student.onnx');
const IRIS_COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const TABLE_SPEC = {
  kind: 'table',
  columns: IRIS_COLUMNS.map((name) => ({ name, type: 'numeric', fill: 0 })),
  targets: ['species'],
};
const IMAGE_SPEC = { kind: 'image', size: [28, 28], channels: 1, fit: 'fill' };
const TOKEN = 'test-token-1234';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies, asserted field by field
}

/** One request on a fresh connection (no keep-alive between tests); `body` is sent as it is when a string. */
function call(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const headers = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: () => JSON.parse(text) });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

const predict = (url: string, model: string, inputs: unknown, headers?: Record<string, string>) =>
  call(`${url}/v1/models/${model}/predict`, { method: 'POST', body: { inputs }, headers });

/**
 * A copy of `source` with `distillery.*` entries set (or removed, for undefined), as another run's export: a string
 * as it is (`distillery.name`), anything else as JSON, as the exporter writes them.
 */
function exportCopy(source: string, file: string, entries: Record<string, unknown>): string {
  const model = onnx.ModelProto.decode(fs.readFileSync(source));
  const keys = Object.keys(entries).map((key) => `distillery.${key}`);
  model.metadataProps = model.metadataProps.filter((entry) => !keys.includes(entry.key ?? ''));
  for (const [key, value] of Object.entries(entries))
    if (value !== undefined)
      model.metadataProps.push(
        onnx.StringStringEntryProto.create({
          key: `distillery.${key}`,
          value: typeof value === 'string' ? value : JSON.stringify(value),
        }),
      );
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

function metadataOf(file: string): Map<string, string> {
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  return new Map(model.metadataProps.map((entry) => [entry.key ?? '', entry.value ?? '']));
}

const sha256 = (file: string): string => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * A run folder as `distillery run` leaves it, reduced to what `verifyRun` reads: the .onnx files, a manifest of
 * them (sha256, size, role) and a report naming each model as its metadata does.
 */
function runFolder(dir: string): string {
  const folder = path.join(dir, 'run');
  fs.mkdirSync(path.join(folder, 'models'), { recursive: true });
  const at = (name: string): string => path.join(folder, 'models', name);
  fs.copyFileSync(fixture('iris_teacher.onnx'), at('teacher.onnx'));
  fs.copyFileSync(fixture('iris_student.onnx'), at('soft-t20.onnx'));
  exportCopy(fixture('iris_student.onnx'), at('iris-table.onnx'), { name: 'iris-table', preprocess: TABLE_SPEC });
  // Its teacher is not this folder's: dropped, as for a student of a black box (verify has nothing to compare).
  exportCopy(MNIST, at('mnist-images.onnx'), { name: 'mnist-images', preprocess: IMAGE_SPEC, teacher: undefined });
  const entry = (name: string) => {
    const meta = metadataOf(at(`${name}.onnx`));
    return {
      name,
      role: meta.get('distillery.role'),
      params: Number(meta.get('distillery.params')),
      method: JSON.parse(meta.get('distillery.method') ?? 'null') as unknown,
      onnx: `models/${name}.onnx`,
    };
  };
  const students = ['soft-t20', 'iris-table', 'mnist-images'];
  const artefacts = ['teacher', ...students].map((name) => ({
    path: `models/${name}.onnx`,
    sha256: sha256(at(`${name}.onnx`)),
    size: fs.statSync(at(`${name}.onnx`)).size,
    role: name === 'teacher' ? 'teacher-model' : 'student-model',
  }));
  const manifest = { format: 'distillery-run/1', experiment: 'serve', configHash: '0', config: {}, complete: true };
  fs.writeFileSync(path.join(folder, 'manifest.json'), JSON.stringify({ ...manifest, artefacts }));
  const report = { teacher: entry('teacher'), students: students.map(entry), artefacts };
  fs.writeFileSync(path.join(folder, 'report.json'), JSON.stringify(report));
  return folder;
}

function digit(seed: number): Uint8Array {
  return Uint8Array.from({ length: 784 }, (_, index) => (index * 31 + seed * 17) % 256);
}

async function png(seed: number): Promise<Buffer> {
  return sharp(Buffer.from(digit(seed)), { raw: { width: 28, height: 28, channels: 1 } })
    .png()
    .toBuffer();
}

/** Same label, and probabilities equal to float rounding (the server's session may use other thread counts). */
function expectSamePredictions(actual: Prediction[], wanted: Prediction[]): void {
  expect(actual).toHaveLength(wanted.length);
  actual.forEach((prediction, index) => {
    const other = wanted[index] as Prediction;
    expect(prediction.task).toBe(other.task);
    if (prediction.task !== 'classification' || other.task !== 'classification') return;
    expect(prediction.label).toBe(other.label);
    prediction.probabilities.forEach((value, k) => expect(value).toBeCloseTo(other.probabilities[k] as number, 6));
  });
}

let dir: string;
let folder: string;
let server: RunningServer; // the run folder, no token
let iris: OnnxModel;
let images: OnnxModel;

beforeAll(async () => {
  dir = tempDir('serve');
  folder = runFolder(dir);
  // A fixed 20 ms window: concurrent requests over HTTP reliably meet in batches (the sharing test counts them).
  server = await serve({ model: folder, port: 0, maxDelayMs: 20, waitWhenIdle: true });
  iris = await OnnxModel.load(fixture('iris_student.onnx'), { threads: 1 });
  images = await OnnxModel.load(path.join(folder, 'models', 'mnist-images.onnx'), { threads: 1 });
});

afterAll(async () => {
  await closeIfOpened(server);
  await closeIfOpened(iris);
  await closeIfOpened(images);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('routes', () => {
  test('GET /healthz and /readyz', async () => {
    expect((await call(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await call(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', models: ['soft-t20', 'iris-table', 'mnist-images'] });
  });

  test('binds 127.0.0.1 unless told otherwise', () => {
    expect(new URL(server.url).hostname).toBe('127.0.0.1');
  });

  test('GET /v1/models lists every student of the run folder with task, labels and input', async () => {
    const reply = await call(`${server.url}/v1/models`);
    expect(reply.status).toBe(200);
    const models = (reply.json() as { models: { name: string }[] }).models;
    expect(models.map((model) => model.name)).toEqual(['soft-t20', 'iris-table', 'mnist-images']);
    expect(models[1]).toMatchObject({
      task: 'classification',
      role: 'student',
      labels: ['setosa', 'versicolor', 'virginica'],
      accepts: ['numbers', 'table-row'],
      input: { name: 'input', shape: [4], dtype: 'float32' },
      output: { kind: 'logits', size: 3 },
      preprocess: { kind: 'table' },
      batching: { maxBatch: 32, maxDelayMs: 20, maxQueue: 1024, waitWhenIdle: true },
    });
  });

  test('GET /v1/models/:name describes one model; an unknown one is 404 naming the field', async () => {
    const reply = await call(`${server.url}/v1/models/mnist-images`);
    expect(reply.json()).toMatchObject({
      name: 'mnist-images',
      accepts: ['numbers', 'image'],
      input: { shape: [28, 28] },
    });
    const unknown = await call(`${server.url}/v1/models/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'unknown-model', field: 'name' });
    expect(unknown.json().error.message).toContain('soft-t20');
  });
});

describe('POST /v1/models/:name/predict', () => {
  test('numbers: one prediction per row, as the runtime predicts them', async () => {
    const samples = expected.iris.samples.slice(0, 5);
    const reply = await predict(server.url, 'soft-t20', samples);
    expect(reply.status).toBe(200);
    expectSamePredictions(reply.json().predictions, await iris.predictBatch(samples));
  });

  test('table rows give what their numbers give', async () => {
    const samples = expected.iris.samples.slice(0, 3);
    const rows = samples.map((sample) => Object.fromEntries(IRIS_COLUMNS.map((name, k) => [name, sample[k]])));
    const reply = await predict(server.url, 'iris-table', rows);
    expect(reply.status).toBe(200);
    expectSamePredictions(reply.json().predictions, await iris.predictBatch(samples));
  });

  test('base64 images, and an image model given pixels', async () => {
    const files = await Promise.all([png(1), png(2)]);
    const reply = await predict(server.url, 'mnist-images', [
      ...files.map((file) => ({ image: file.toString('base64') })),
      Array.from(digit(3)),
    ]);
    expect(reply.status).toBe(200);
    expectSamePredictions(reply.json().predictions, await images.predictBatch([...files, digit(3)]));
  });

  test('by default a lone request on an idle model runs at once: it does not wait out --max-delay-ms', async () => {
    const lone = await serve({ model: fixture('iris_student.onnx'), port: 0, maxDelayMs: 10_000 });
    try {
      const started = performance.now();
      for (const sample of expected.iris.samples.slice(0, 3)) {
        const reply = await predict(lone.url, 'soft-t20', [sample]);
        expect(reply.status).toBe(200);
      }
      expect(performance.now() - started).toBeLessThan(5000); // a few ms each; the delay alone would be 30 s
    } finally {
      await lone.close();
    }
  });

  test('concurrent requests share batches, and each gets its own predictions', async () => {
    const samples = expected.iris.samples;
    const replies = await Promise.all(samples.map((sample) => predict(server.url, 'soft-t20', [sample])));
    const wanted = await iris.predictBatch(samples);
    replies.forEach((reply, index) => expectSamePredictions(reply.json().predictions, [wanted[index] as Prediction]));
    const metrics = (await call(`${server.url}/metrics`)).text;
    const batches = Number(/distillery_batch_size_count\{model="soft-t20"\} (\d+)/.exec(metrics)?.[1]);
    // Every row ran, in fewer runs than there were requests (the earlier test's batch is counted too).
    expect(Number(/distillery_batch_size_sum\{model="soft-t20"\} (\d+)/.exec(metrics)?.[1])).toBe(samples.length + 5);
    expect(batches).toBeLessThan(samples.length + 1);
  });
});

describe('multipart uploads: image files as they are, one input per file part', () => {
  /** A multipart form of `files` (each a part named `image`), POSTed with fetch: real HTTP, its own encoder. */
  async function upload(url: string, model: string, parts: [string, Blob | string, string?][]): Promise<Reply> {
    const form = new FormData();
    for (const [name, value, filename] of parts)
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, value, filename);
    const response = await fetch(`${url}/v1/models/${model}/predict`, { method: 'POST', body: form });
    const text = await response.text();
    const headers = Object.fromEntries(response.headers.entries());
    return { status: response.status, headers, text, json: () => JSON.parse(text) };
  }
  const file = (bytes: Uint8Array, type = 'image/png') => new Blob([bytes], { type });

  test('PNG files give what their bytes give through the runtime, in the order sent', async () => {
    const files = await Promise.all([png(7), png(8), png(9)]);
    const reply = await upload(
      server.url,
      'mnist-images',
      files.map((bytes, index) => ['image', file(bytes), `digit-${index}.png`]),
    );
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toContain('application/json');
    expectSamePredictions(reply.json().predictions, await images.predictBatch(files));
  });

  test('a file that is no image: 400 naming its input; a text field: 400 naming the field', async () => {
    const good = await png(1);
    const notImage = await upload(server.url, 'mnist-images', [
      ['image', file(good), 'a.png'],
      ['image', file(Buffer.from('hello, not an image')), 'b.png'],
    ]);
    expect(notImage.status).toBe(400);
    expect(notImage.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[1]' });
    const field = await upload(server.url, 'mnist-images', [
      ['image', file(good), 'a.png'],
      ['note', 'hello'],
    ]);
    expect(field.status).toBe(400);
    expect(field.json().error).toMatchObject({ code: 'invalid-request', field: 'form.note' });
  });

  test('a model that takes no images: 415; a form without files, or cut off: 400', async () => {
    const reply = await upload(server.url, 'soft-t20', [['image', file(await png(1)), 'a.png']]);
    expect(reply.status).toBe(415);
    expect(reply.json().error).toMatchObject({ code: 'unsupported-media-type', field: 'headers.content-type' });
    const empty = await upload(server.url, 'mnist-images', []);
    expect(empty.status).toBe(400);
    expect(empty.json().error).toMatchObject({ code: 'invalid-request', field: 'inputs' });
    const cut = await call(`${server.url}/v1/models/mnist-images/predict`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc',
    });
    expect(cut.status).toBe(400);
    expect(cut.json().error).toMatchObject({ code: 'malformed-multipart', field: 'body' });
  });

  test('limits: a file over --max-file-bytes, and one file more than --max-files: 413 naming the part', async () => {
    const small = await png(2);
    const limited = await serve({
      model: path.join(folder, 'models', 'mnist-images.onnx'),
      port: 0,
      maxFileBytes: small.length + 16,
      maxFiles: 2,
    });
    try {
      const name = limited.models[0] as string;
      const big = Buffer.concat([small, Buffer.alloc(4096, 7)]);
      const tooBig = await upload(limited.url, name, [
        ['image', file(small), 'small.png'],
        ['image', file(big), 'big.png'],
      ]);
      expect(tooBig.status).toBe(413);
      expect(tooBig.json().error).toMatchObject({ code: 'file-too-large', field: 'inputs[1]' });
      expect(tooBig.json().error.message).toContain('part "image" (big.png)');
      const tooMany = await upload(limited.url, name, [
        ['image', file(small), '1.png'],
        ['image', file(small), '2.png'],
        ['image', file(small), '3.png'],
      ]);
      expect(tooMany.status).toBe(413);
      expect(tooMany.json().error).toMatchObject({ code: 'too-many-files', field: 'inputs[2]' });
      // Within the limits: answered, on the same server.
      const fine = await upload(limited.url, name, [['image', file(small), '1.png']]);
      expect(fine.status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('bad requests: status and a JSON error naming the field', () => {
  const cases: [string, unknown, number, string, string | null][] = [
    ['wrong shape', [[1, 2, 3]], 400, 'invalid-input', 'inputs[0]'],
    ['a null among the numbers', [[1, null, 3, 4]], 400, 'invalid-request', 'inputs[0][1]'],
    ['no inputs', [], 400, 'invalid-request', 'inputs'],
    ['a text to a model without a text column', ['a fine iris'], 400, 'invalid-input', 'inputs[0]'],
  ];
  test.each(cases)('%s', async (_name, inputs, status, code, field) => {
    const reply = await predict(server.url, 'soft-t20', inputs);
    expect(reply.status).toBe(status);
    expect(reply.json().error).toMatchObject({ code, field });
  });

  test('a bad row fails its request, naming its index; the other rows of the model keep working', async () => {
    const good = expected.iris.samples[0] as number[];
    const reply = await predict(server.url, 'soft-t20', [good, good, [1, 2]]);
    expect(reply.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[2]' });
    expect((await predict(server.url, 'soft-t20', [good])).status).toBe(200);
  });

  test('NaN: not JSON (400 malformed-json), and a "NaN" cell in a table row (400 naming the column)', async () => {
    const raw = await call(`${server.url}/v1/models/soft-t20/predict`, {
      method: 'POST',
      body: '{"inputs": [[1, 2, NaN, 4]]}',
    });
    expect(raw.status).toBe(400);
    expect(raw.json().error).toMatchObject({ code: 'malformed-json', field: 'body' });
    const row = { sepal_length: 5, sepal_width: 3, petal_length: 'NaN', petal_width: 1 };
    const cell = await predict(server.url, 'iris-table', [row]);
    expect(cell.status).toBe(400);
    expect(cell.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[0].petal_length' });
  });

  test('malformed JSON', async () => {
    const reply = await call(`${server.url}/v1/models/soft-t20/predict`, { method: 'POST', body: '{"inputs": [' });
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('malformed-json');
  });

  test('a missing column, and a column the model does not have', async () => {
    const missing = await predict(server.url, 'iris-table', [{ sepal_length: 5, sepal_width: 3, petal_length: 1 }]);
    expect(missing.status).toBe(400);
    expect(missing.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[0].petal_width' });
    const row = { sepal_length: 5, sepal_width: 3, petal_length: 1, petal_width: null, colour: 'blue' };
    const extra = await predict(server.url, 'iris-table', [row]);
    expect(extra.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[0].colour' });
    // null is a missing value said explicitly: filled as in training.
    const { colour: _colour, ...filled } = row;
    expect((await predict(server.url, 'iris-table', [filled])).status).toBe(200);
  });

  test('an image that is not base64, or not an image', async () => {
    const notBase64 = await predict(server.url, 'mnist-images', [{ image: 'not base64!' }]);
    expect(notBase64.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[0].image' });
    const notImage = await predict(server.url, 'mnist-images', [{ image: Buffer.from('hello').toString('base64') }]);
    expect(notImage.json().error).toMatchObject({ code: 'invalid-input', field: 'inputs[0].image' });
  });

  test('an unknown model (404), an unknown route (404), a wrong content type (415)', async () => {
    const model = await predict(server.url, 'nope', [[1, 2, 3, 4]]);
    expect(model.status).toBe(404);
    expect(model.json().error).toMatchObject({ code: 'unknown-model', field: 'name' });
    const route = await call(`${server.url}/v2/anything`);
    expect(route.status).toBe(404);
    expect(route.json().error.code).toBe('not-found');
    const text = await call(`${server.url}/v1/models/soft-t20/predict`, {
      method: 'POST',
      body: '[[1, 2, 3, 4]]',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    expect(text.json().error).toMatchObject({ code: 'unsupported-media-type', field: 'headers.content-type' });
  });
});

test('1,000 malformed requests mixed into valid traffic: each answered 400, every valid one answered right', async () => {
  const samples = expected.iris.samples;
  const wanted = await iris.predictBatch(samples);
  const malformed = [
    '{"inputs": [[1, 2',
    JSON.stringify({ inputs: [[1, 2]] }),
    JSON.stringify({ inputs: [[1, null, 3, 4]] }),
    JSON.stringify({ inputs: 'not rows' }),
    JSON.stringify({ rows: [[1, 2, 3, 4]] }),
  ];
  const good: Promise<{ index: number; reply: Reply }>[] = [];
  const bad: Promise<Reply>[] = [];
  for (let i = 0; i < 1200; i++) {
    if (i % 6 === 5) {
      const index = ((i / 6) % samples.length) | 0;
      good.push(predict(server.url, 'soft-t20', [samples[index]]).then((reply) => ({ index, reply })));
    } else {
      const body = malformed[i % malformed.length] as string;
      bad.push(call(`${server.url}/v1/models/soft-t20/predict`, { method: 'POST', body }));
    }
  }
  const [answered, refused] = await Promise.all([Promise.all(good), Promise.all(bad)]);
  expect(refused).toHaveLength(1000);
  expect(refused.every((reply) => reply.status === 400 && reply.json().error.code !== undefined)).toBe(true);
  expect(answered).toHaveLength(200);
  for (const { index, reply } of answered) {
    expect(reply.status).toBe(200);
    expectSamePredictions(reply.json().predictions, [wanted[index] as Prediction]);
  }
});

describe('OpenAPI and metrics', () => {
  test('GET /openapi.json lists every route, from the zod schemas', async () => {
    const document = (await call(`${server.url}/openapi.json`)).json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/healthz',
        '/metrics',
        '/openapi.json',
        '/readyz',
        '/v1/models',
        '/v1/models/{name}',
        '/v1/models/{name}/predict',
      ].sort(),
    );
    const predictPath = document.paths['/v1/models/{name}/predict'].post;
    const body = predictPath.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['inputs']);
    expect(Object.keys(predictPath.requestBody.content)).toEqual(['application/json', 'multipart/form-data']);
    expect(Object.keys(predictPath.responses)).toEqual(
      expect.arrayContaining(['200', '400', '404', '413', '415', '503']),
    );
  });

  test('GET /metrics: requests by route and status, latency, batch sizes, queue depth, process memory', async () => {
    const reply = await call(`${server.url}/metrics`);
    expect(reply.headers['content-type']).toContain('text/plain');
    const text = reply.text;
    expect(text).toMatch(
      /distillery_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="200"\} \d+/,
    );
    expect(text).toMatch(
      /distillery_http_requests_total\{route="\/v1\/models\/:name\/predict",method="POST",status="400"\} \d+/,
    );
    expect(text).toMatch(/distillery_http_request_duration_seconds_bucket\{le="0.005",route="\/healthz"\} \d+/);
    expect(text).toMatch(/distillery_batch_size_bucket\{le="1",model="mnist-images"\} \d+/);
    expect(text).toContain('distillery_queue_depth{model="soft-t20"} 0');
    expect(text).toContain('process_resident_memory_bytes');
  });
});

describe('limits', () => {
  let guarded: RunningServer;
  let tight: RunningServer;
  beforeAll(async () => {
    guarded = await serve({
      model: fixture('iris_student.onnx'),
      port: 0,
      token: TOKEN,
      bodyLimit: 2048,
      requestTimeoutMs: 300,
    });
    // One row waiting at most: a request of three images (decoded one by one) overflows it at once.
    tight = await serve({ model: path.join(folder, 'models', 'mnist-images.onnx'), port: 0, maxBatch: 1, maxQueue: 1 });
  });
  afterAll(async () => {
    await closeIfOpened(guarded);
    await closeIfOpened(tight);
  });

  test('a bearer token: 401 without it on every route but /healthz', async () => {
    for (const route of ['/v1/models', '/v1/models/soft-t20', '/readyz', '/metrics', '/openapi.json', '/nowhere']) {
      const reply = await call(`${guarded.url}${route}`);
      expect([route, reply.status]).toEqual([route, 401]);
      expect(reply.headers['www-authenticate']).toBe('Bearer');
      expect(reply.json().error).toMatchObject({ code: 'unauthorized', field: 'headers.authorization' });
    }
    expect((await predict(guarded.url, 'soft-t20', [[1, 2, 3, 4]])).status).toBe(401);
    expect((await predict(guarded.url, 'soft-t20', [[1, 2, 3, 4]], { authorization: 'Bearer wrong' })).status).toBe(
      401,
    );
    expect((await call(`${guarded.url}/healthz`)).status).toBe(200);
    const authorized = await predict(guarded.url, 'soft-t20', [[1, 2, 3, 4]], { authorization: `Bearer ${TOKEN}` });
    expect(authorized.status).toBe(200);
    const document = (
      await call(`${guarded.url}/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json();
    expect(document.security).toEqual([{ bearer: [] }]);
  });

  test('an oversized body: 413', async () => {
    const rows = Array.from({ length: 200 }, () => [1.25, 2.5, 3.75, 4]);
    const reply = await predict(guarded.url, 'soft-t20', rows, { authorization: `Bearer ${TOKEN}` });
    expect(reply.status).toBe(413);
    expect(reply.json().error).toMatchObject({ code: 'body-too-large', field: 'body' });
  });

  test('a body that arrives too slowly: 408', async () => {
    const { port } = new URL(guarded.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/models/soft-t20/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inputs": ',
        );
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  test('a full queue: 503 with Retry-After', async () => {
    const files = await Promise.all([png(4), png(5), png(6)]);
    const reply = await predict(
      tight.url,
      'mnist-images',
      files.map((file) => ({ image: file.toString('base64') })),
    );
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.json().error.code).toBe('queue-full');
    // The queue is free again once the accepted row is answered.
    expect((await predict(tight.url, 'mnist-images', [{ image: files[0].toString('base64') }])).status).toBe(200);
  });
});

test('threads: a pool of worker threads answers as the single session does', async () => {
  const pooled = await serve({ model: fixture('iris_student.onnx'), port: 0, threads: 2 });
  try {
    const samples = expected.iris.samples.slice(0, 6);
    const replies = await Promise.all(samples.map((sample) => predict(pooled.url, 'soft-t20', [sample])));
    const predictions = replies.map((reply) => (reply.json().predictions as Prediction[])[0] as Prediction);
    expectSamePredictions(predictions, await iris.predictBatch(samples));
  } finally {
    await pooled.close();
  }
});

describe('a worker thread that dies (--threads)', () => {
  /** The served pool's piscina, caught as serve() creates the pool. */
  async function servedPool(
    options: Parameters<typeof serve>[0],
  ): Promise<{ served: RunningServer; piscina: Piscina }> {
    const create = jest.spyOn(PredictionPool, 'create');
    try {
      const served = await serve(options);
      const pool = (await create.mock.results[0]?.value) as PredictionPool;
      return { served, piscina: (pool as unknown as { piscina: Piscina }).piscina };
    } finally {
      create.mockRestore();
    }
  }

  test('its in-flight requests get 503 worker-died with Retry-After, never hang; the next requests succeed', async () => {
    const { served, piscina } = await servedPool({ model: fixture('iris_student.onnx'), port: 0, threads: 1 });
    try {
      const [original] = piscina.threads;
      // The worker that receives the next run ends itself (process.exit) while holding it, as a crash would
      // (a test-only PoolTask flag; see src/runtime/pool-worker.ts).
      const run = piscina.run.bind(piscina);
      jest
        .spyOn(piscina, 'run')
        .mockImplementationOnce((task: PoolTask, options) => run({ ...task, testExit: true }, options));
      const samples = expected.iris.samples.slice(0, 4);
      const replies = await Promise.all(samples.map((sample) => predict(served.url, 'soft-t20', [sample])));
      // The rows of the run that died get 503; any that arrived after it ran on the new worker.
      const died = replies.filter((reply) => reply.status === 503);
      expect(died.length).toBeGreaterThan(0);
      for (const reply of died) {
        expect(reply.headers['retry-after']).toBe('1');
        expect(reply.json().error).toMatchObject({ code: 'worker-died', field: null });
        expect(reply.json().error.message).toContain('worker exited with code: 1');
      }
      expect(replies.every((reply) => reply.status === 503 || reply.status === 200)).toBe(true);
      expect(piscina.threads).toHaveLength(1);
      expect(piscina.threads[0]).not.toBe(original);
      const after = await predict(served.url, 'soft-t20', samples);
      expect(after.status).toBe(200);
      expectSamePredictions(after.json().predictions, await iris.predictBatch(samples));
      const metrics = (await call(`${served.url}/metrics`)).text;
      expect(metrics).toMatch(/route="\/v1\/models\/:name\/predict",method="POST",status="503"\} [1-4]\b/);
    } finally {
      await served.close();
    }
  }, 60_000);
});

describe('start-up', () => {
  test('a run folder with a tampered .onnx is refused, naming the file', async () => {
    const tampered = path.join(dir, 'tampered');
    fs.cpSync(folder, tampered, { recursive: true });
    const file = path.join(tampered, 'models', 'iris-table.onnx');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    fs.writeFileSync(file, bytes);
    const refused = await serve({ model: tampered, port: 0 }).then(
      (started) => started.close().then(() => null),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ServeSetupError);
    expect(refused).toMatchObject({ reason: 'verify-failed' });
    expect((refused as ServeSetupError).problems.join('\n')).toContain('models/iris-table.onnx: changed since the run');
  });

  test('a missing model, and a bad option, are refused before anything loads', async () => {
    await expect(serve({ model: path.join(dir, 'none.onnx') })).rejects.toMatchObject({ reason: 'not-found' });
    await expect(serve({ model: fixture('iris_student.onnx'), port: 70000 })).rejects.toMatchObject({
      reason: 'invalid-option',
      message: expect.stringContaining('port') as unknown,
    });
  });

  test('a port in use: the listen error, and the loaded model is closed again', async () => {
    const close = jest.spyOn(OnnxModel.prototype, 'close');
    const busy = { model: fixture('iris_student.onnx'), port: Number(new URL(server.url).port) };
    await expect(serve(busy)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(close).toHaveBeenCalledTimes(1);
    close.mockRestore();
  });
});

describe('distillery serve (the command)', () => {
  test('SIGTERM while requests wait: every accepted request is answered, then exit 0', async () => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        fixture('iris_student.onnx'),
        '--port',
        '0',
        '--max-delay-ms',
        '1500',
        '--wait-when-idle',
        '--max-batch',
        '64',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const found = /listening on (http:\/\/\S+)/.exec(stdout);
        if (found?.[1]) resolve(found[1]);
      });
      void exit.then((code) => reject(new Error(`exited ${String(code)}: ${stderr}`)));
    });
    const samples = expected.iris.samples.slice(0, 10);
    const pending = samples.map((sample) => predict(url, 'soft-t20', [sample]));
    // Every request is in the batcher's queue (waiting out the 1.5 s delay) before the signal.
    for (;;) {
      const metrics = (await call(`${url}/metrics`)).text;
      if (metrics.includes(`distillery_queue_depth{model="soft-t20"} ${samples.length}`)) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGTERM');
    const replies = await Promise.all(pending);
    expect(replies.map((reply) => reply.status)).toEqual(samples.map(() => 200));
    expectSamePredictions(
      replies.map((reply) => (reply.json().predictions as Prediction[])[0] as Prediction),
      await iris.predictBatch(samples),
    );
    expect(await exit).toBe(0);
    expect(stderr).toContain('SIGTERM: draining');
    // Gone: a new connection is refused.
    await expect(call(`${url}/healthz`)).rejects.toThrow();
  });
});
