/**
 * `serve()`: students behind HTTP, on Fastify. Every route's request and response is a zod schema (src/serve/
 * schemas.ts), which validates them and writes the OpenAPI document; each model's predictions go through its
 * dynamic batcher, so concurrent requests share onnxruntime runs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { fastifySwagger } from '@fastify/swagger';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InputValidationError } from '../core/errors';
import { InferenceError } from '../runtime/errors';
import type { ModelInput, Prediction } from '../runtime/types';
import { HttpError, failureOf } from './errors';
import { acceptedKinds, imageFile, requestField, toModelInput } from './inputs';
import { serveMetrics, type ServeMetrics } from './metrics';
import { loadModels, modelFiles, type ServedModel } from './models';
import { readUploads, registerUploads, UploadedFiles, withUploadsDocumented, type UploadLimits } from './multipart';
import { resolveOptions, type ResolvedServeOptions, type ServeOptions } from './options';
import {
  errorSchema,
  healthSchema,
  modelListSchema,
  modelParamsSchema,
  modelSummarySchema,
  predictBodySchema,
  predictResponseSchema,
  readySchema,
  type ModelSummary,
  type PredictBody,
} from './schemas';

/** A running server. */
export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The served models' names, as in `/v1/models/<name>/predict`. */
  readonly models: readonly string[];
  /**
   * Drains and stops: refuses new requests (503) and new connections, answers every request it had accepted, then
   * frees the models. Resolves once all of that is done; calling it again returns the same promise.
   */
  close(): Promise<void>;
}

/** What the routes share. */
interface State {
  readonly options: ResolvedServeOptions;
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: ServeMetrics;
  draining: boolean;
}

/** Node checks its request timeouts on this interval (default 30 s, too coarse for a timeout of a few seconds). */
const TIMEOUT_CHECK_MS = 1000;

const PREDICT_ROUTE = '/v1/models/:name/predict';
const PREDICT_PATH = '/v1/models/{name}/predict';
/** The predict route's answer is serialised here (JSON.stringify), not by the route's zod response schema. */
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Serves a model, or a run folder's students, over HTTP until `close()`.
 *
 * @example
 * ```ts
 * import { serve } from 'distillery';
 *
 * const server = await serve({ model: 'runs/mine', port: 0, maxBatch: 64 });
 * const response = await fetch(`${server.url}/v1/models/small/predict`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
 * });
 * await server.close();
 * ```
 * @throws {@link ServeSetupError} for a missing model, a run folder that fails `distillery verify`, a bad option
 * @throws ModelLoadError (from `distillery/runtime`) for a model the runtime cannot load
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const resolved = resolveOptions(options);
  const files = modelFiles(resolved.model);
  const models = new Map<string, ServedModel>();
  // The metrics come first (each model's batcher reports its batches to them); the gauge reads the queues at scrape.
  const metrics = serveMetrics(() => new Map([...models].map(([name, model]) => [name, model.batcher.queued])));
  const loaded = await loadModels(files, {
    threads: resolved.threads,
    batching: {
      maxBatch: resolved.maxBatch,
      maxDelayMs: resolved.maxDelayMs,
      maxQueue: resolved.maxQueue,
      waitWhenIdle: resolved.waitWhenIdle,
    },
    onBatch: (model, rows) => {
      metrics.batch(model, rows);
    },
  });
  for (const model of loaded) models.set(model.name, model);
  const state: State = { options: resolved, models, metrics, draining: false };
  let app: FastifyInstance | null = null;
  try {
    app = await buildApp(state);
    const url = await app.listen({ host: resolved.host, port: resolved.port });
    return { url, models: [...models.keys()], close: closer(app, state) };
  } catch (error) {
    // Port in use, a bad host…: nothing may be left running.
    await app?.close();
    await Promise.all(loaded.map((model) => model.close()));
    throw error;
  }
}

/** `close()`: drain the HTTP side first (accepted requests still need their batchers), then the models. */
function closer(app: FastifyInstance, state: State): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= (async () => {
      state.draining = true;
      await app.close();
      await Promise.all([...state.models.values()].map((model) => model.close()));
    })();
    return closing;
  };
}

async function buildApp(state: State): Promise<FastifyInstance> {
  const { bodyLimit, requestTimeoutMs, logger } = state.options;
  const app = fastify({
    bodyLimit,
    logger,
    // While closing: a request on a kept-alive connection gets 503 (it was never accepted), idle ones are closed.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Our own http.Server, for its timeouts: a client that sends its headers or body too slowly gets 408.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout: requestTimeoutMs,
          headersTimeout: requestTimeoutMs,
          connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, requestTimeoutMs),
        },
        handler,
      ),
  });
  app.setValidatorCompiler(validators);
  app.setSerializerCompiler(serializerCompiler);
  // JSON (and multipart uploads): a text/plain body would reach the schema as one string and fail there, less
  // clearly than 415.
  app.removeContentTypeParser('text/plain');
  await registerUploads(app, uploadLimits(state.options));
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'distillery serve',
        description: 'Predictions from Distillery students, batched dynamically (docs/RUNTIME.md, "Serving").',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(state.options.token !== undefined ? { security: [{ bearer: [] }] } : {}),
    },
    transform: jsonSchemaTransform,
    transformObject: (document) =>
      withUploadsDocumented(
        'openapiObject' in document ? document.openapiObject : document.swaggerObject,
        PREDICT_PATH,
      ),
  });
  addHooks(app, state);
  addRoutes(app, state);
  return app;
}

function addHooks(app: FastifyInstance, state: State): void {
  const token = state.options.token;
  if (token !== undefined) {
    const expected = digest(token);
    app.addHook('onRequest', (request, _reply, done) => {
      // /healthz answers without a token: an orchestrator's liveness probe carries none.
      const open = request.url === '/healthz' || request.url.startsWith('/healthz?');
      if (open || bearerMatches(request.headers.authorization, expected)) {
        done();
        return;
      }
      done(
        new HttpError({
          status: 401,
          code: 'unauthorized',
          message: 'a bearer token is required: Authorization: Bearer <token>',
          field: 'headers.authorization',
          headers: { 'www-authenticate': 'Bearer' },
        }),
      );
    });
  }
  app.addHook('onSend', async (_request, reply) => {
    // Draining: no keep-alive, so the client's next request opens a connection to a live server, not this one.
    if (state.draining) void reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    state.metrics.request(routeOf(request), request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.setErrorHandler(async (error, _request, reply) => replyFailure(reply, error));
  app.setNotFoundHandler(async (request, reply) =>
    replyFailure(
      reply,
      new HttpError({
        status: 404,
        code: 'not-found',
        message: `no route ${request.method} ${request.url}`,
        field: null,
      }),
    ),
  );
}

function uploadLimits(options: ResolvedServeOptions): UploadLimits {
  return { maxFileBytes: options.maxFileBytes, maxFiles: options.maxFiles, totalBytes: options.bodyLimit };
}

/**
 * zod validates every request part, with two shortcuts on the predict body, both for bodies zod would accept as they
 * are: rows of plain numbers (the hot path: the check is a loop over the numbers, and the rows are not copied), and
 * a multipart upload, which its reader has checked. Anything else meets the full schema, whose 400s name the field.
 */
const validators: typeof validatorCompiler = (route) => {
  const validate = validatorCompiler(route);
  if (route.httpPart !== 'body' || route.url !== PREDICT_ROUTE) return validate;
  return (data: unknown) =>
    data instanceof UploadedFiles || isNumberRowsBody(data) ? { value: data } : validate(data);
};

/** `{ "inputs": [row, …] }`, each row numbers, flat or nested once: a subset of what predictBodySchema accepts. */
function isNumberRowsBody(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const keys = Object.keys(data);
  if (keys.length !== 1 || keys[0] !== 'inputs') return false;
  const inputs = (data as { inputs: unknown }).inputs;
  return Array.isArray(inputs) && inputs.length > 0 && inputs.every(isNumberRow);
}

function isNumberRow(row: unknown): boolean {
  if (!Array.isArray(row)) return false;
  for (const value of row)
    // (JSON has no NaN or Infinity: every number parsed is one zod's z.number() takes.)
    if (typeof value !== 'number' && !(Array.isArray(value) && value.every((inner) => typeof inner === 'number')))
      return false;
  return true;
}

function replyFailure(reply: FastifyReply, error: unknown): { error: z.infer<typeof errorSchema>['error'] } {
  const { status, code, message, field, headers } = failureOf(error);
  void reply.code(status).headers(headers ?? {});
  return { error: { code, message, field } };
}

/** The route's pattern (`/v1/models/:name/predict`): a metric label of bounded cardinality, unlike the URL. */
function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'unmatched';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares digests in constant time, so the time to refuse a token does not tell how much of it was right. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1].trim()), expected);
}

const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema };

function addRoutes(app: FastifyInstance, state: State): void {
  const zodApp = app.withTypeProvider<ZodTypeProvider>();
  const limits = uploadLimits(state.options);
  zodApp.post(
    PREDICT_ROUTE,
    {
      schema: {
        summary: "Predict: one prediction per input, in the runtime's Prediction shape",
        description: 'JSON inputs, or (image models) image files as multipart/form-data, one input per file part',
        params: modelParamsSchema,
        body: predictBodySchema,
        response: { 200: predictResponseSchema, 413: errorSchema, 415: errorSchema, ...errors },
      },
      // A multipart upload's files become its body before validation; a JSON body goes on to the schema.
      preValidation: async (request) => {
        if (!request.isMultipart()) return;
        await readUploads(request, model(state, request.params.name).info, limits);
      },
    },
    async (request, reply) => {
      const served = model(state, request.params.name);
      const predictions = await predictAll(served, inputsOf(served, request.body));
      // Serialised here: the predictions are the runtime's own (typed, checked finite below), so the response
      // schema's parse-then-stringify would only cost time; the schema stays for the OpenAPI document.
      // (The untyped reply: the typed one takes only the schema's object, not its serialised text.)
      return (reply as FastifyReply).type(JSON_TYPE).send(JSON.stringify({ predictions: finite(served, predictions) }));
    },
  );
  zodApp.get(
    '/v1/models',
    { schema: { summary: 'The served models', response: { 200: modelListSchema, 401: errorSchema } } },
    () => ({ models: [...state.models.values()].map((served) => summary(served, state.options)) }),
  );
  zodApp.get(
    '/v1/models/:name',
    {
      schema: {
        summary: 'One model: task, labels, input',
        params: modelParamsSchema,
        response: { 200: modelSummarySchema, 401: errorSchema, 404: errorSchema },
      },
    },
    (request) => summary(model(state, request.params.name), state.options),
  );
  zodApp.get(
    '/healthz',
    { schema: { summary: 'Liveness: the process answers', response: { 200: healthSchema } } },
    () => ({ status: 'ok' as const }),
  );
  zodApp.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: models loaded and not draining (503 while draining)',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    (_request, reply) => {
      if (state.draining) void reply.code(503);
      return { status: state.draining ? ('draining' as const) : ('ready' as const), models: [...state.models.keys()] };
    },
  );
  zodApp.get('/metrics', { schema: { summary: 'Metrics, in the Prometheus text format' } }, (_request, reply) => {
    void reply.type(state.metrics.registry.contentType);
    return state.metrics.registry.metrics();
  });
  zodApp.get('/openapi.json', { schema: { summary: 'This document' } }, () => app.swagger());
}

function model(state: State, name: string): ServedModel {
  const served = state.models.get(name);
  if (served === undefined)
    throw new HttpError({
      status: 404,
      code: 'unknown-model',
      message: `no model named ${name} (served: ${[...state.models.keys()].join(', ')})`,
      field: 'name',
    });
  return served;
}

/** A request's inputs, each as a function that makes the runtime's input (and throws for a bad one, naming it). */
type InputMaker = (where: string) => ModelInput;

/** `body` is typed from the JSON schema; a multipart request's is the UploadedFiles its preValidation set. */
function inputsOf(served: ServedModel, body: PredictBody | UploadedFiles): InputMaker[] {
  if (body instanceof UploadedFiles) return body.files.map((file) => (where) => imageFile(file.bytes, where));
  return body.inputs.map((input) => (where) => toModelInput(served.info, input, where));
}

/**
 * Every input through the model's batcher, at once (they join batches with other requests' inputs). All are
 * awaited before answering, so that no prediction is left running for a request that was answered; the first
 * failure, in input order, is the answer.
 */
async function predictAll(served: ServedModel, inputs: readonly InputMaker[]): Promise<Prediction[]> {
  const settled = await Promise.allSettled(inputs.map((input, index) => predictOne(served, input, `inputs[${index}]`)));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<Prediction>).value);
}

async function predictOne(served: ServedModel, input: InputMaker, where: string): Promise<Prediction> {
  try {
    return await served.batcher.predict(input(where));
  } catch (error) {
    if (!(error instanceof InputValidationError)) throw error;
    throw new InputValidationError(requestField(error.field, where), error.expected, error.received);
  }
}

/**
 * The predictions, once checked to hold only finite numbers: JSON.stringify would write a NaN as null, which the
 * response schema (numbers) does not allow; such an output is the model's failure (500), as the schema made it.
 */
function finite(served: ServedModel, predictions: Prediction[]): Prediction[] {
  for (const prediction of predictions) {
    const numbers = prediction.task === 'regression' ? prediction.values : prediction.probabilities;
    if (!numbers.every(Number.isFinite) || (prediction.task === 'classification' && !finiteOrNull(prediction.logits)))
      throw new InferenceError(served.name, 'the model answered a value that is not a finite number');
  }
  return predictions;
}

function finiteOrNull(values: readonly number[] | null): boolean {
  return values === null || values.every(Number.isFinite);
}

function summary(served: ServedModel, options: ResolvedServeOptions): ModelSummary {
  const { info } = served;
  return {
    name: served.name,
    task: info.task,
    role: info.role,
    labels: info.labels ? [...info.labels] : null,
    accepts: acceptedKinds(info),
    input: { name: info.input.name, shape: [...info.input.shape], dtype: info.input.dtype },
    output: { ...info.output },
    preprocess: info.preprocess ? (JSON.parse(JSON.stringify(info.preprocess)) as Record<string, unknown>) : null,
    params: info.params,
    version: info.version,
    batching: {
      maxBatch: options.maxBatch,
      maxDelayMs: options.maxDelayMs,
      maxQueue: options.maxQueue,
      waitWhenIdle: options.waitWhenIdle,
    },
  };
}
