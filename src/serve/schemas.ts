/**
 * The HTTP API's shapes, as zod schemas: Fastify validates requests and responses with them (through
 * fastify-type-provider-zod), and @fastify/swagger writes the OpenAPI document from the same schemas, so the
 * document cannot drift from what the server accepts and answers.
 */
import { z } from 'zod';

/**
 * One sample as numbers, flat or nested up to three levels ([features], [28, 28], [C, H, W]). Written out rather
 * than recursive: a recursive schema becomes a self-referencing `$ref` that OpenAPI tools read badly.
 */
const numbers = z.array(z.union([z.number(), z.array(z.union([z.number(), z.array(z.number())]))]));

/** A table row: column name → cell (null, or a missing key, is a missing value only where the server allows it). */
const tableRow = z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()]));

/** An encoded image (PNG, JPEG or WebP), base64: for a model trained on images. */
const image = z.strictObject({ image: z.string().describe('the image file (PNG, JPEG or WebP), base64-encoded') });

/** One input of a predict request, in the kinds the runtime takes. */
export const inputSchema = z
  .union([numbers, z.string(), image, tableRow])
  .describe(
    "one row: numbers (a sample, flat or nested to the model's input shape), a text (a text model), " +
      '{ "image": "<base64>" } (an image model) or a table row { column: value } (a table model)',
  );

export const predictBodySchema = z.strictObject({
  inputs: z.array(inputSchema).min(1).describe('one or more rows, each predicted on its own (in batches with others)'),
});

export type PredictBody = z.infer<typeof predictBodySchema>;
export type JsonInput = z.infer<typeof inputSchema>;

const classPrediction = z.object({
  task: z.literal('classification'),
  label: z.string(),
  index: z.number().int(),
  probabilities: z.array(z.number()),
  logits: z.array(z.number()).nullable(),
});

const regressionPrediction = z.object({ task: z.literal('regression'), values: z.array(z.number()) });

/** The runtime's Prediction, as JSON. */
export const predictionSchema = z.discriminatedUnion('task', [classPrediction, regressionPrediction]);

export const predictResponseSchema = z.object({
  predictions: z.array(predictionSchema).describe("one per input, in the request's order"),
});

export const modelParamsSchema = z.object({ name: z.string().describe("a served model's name (GET /v1/models)") });

/** What a client needs to call a model: what it predicts, and what it takes. */
export const modelSummarySchema = z.object({
  name: z.string(),
  task: z.enum(['classification', 'regression']),
  role: z.enum(['teacher', 'student']).nullable(),
  labels: z.array(z.string()).nullable().describe('class names (classification) or output names (regression)'),
  accepts: z
    .array(z.enum(['numbers', 'table-row', 'text', 'image']))
    .describe('the input kinds a predict request may send this model'),
  input: z.object({
    name: z.string(),
    shape: z.array(z.number().int()).describe("one sample's shape, without the batch axis"),
    dtype: z.literal('float32'),
  }),
  output: z.object({
    name: z.string(),
    kind: z.enum(['logits', 'probabilities', 'values']),
    size: z.number().int().nullable(),
  }),
  preprocess: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe("how a table row or an image becomes the input (the model's distillery.preprocess); null: numbers only"),
  params: z.number().nullable(),
  version: z.string().nullable(),
  batching: z.object({
    maxBatch: z.number().int(),
    maxDelayMs: z.number(),
    maxQueue: z.number().int(),
    waitWhenIdle: z
      .boolean()
      .describe('true: every batch waits maxDelayMs; false: an idle model runs a request at once'),
  }),
});

export type ModelSummary = z.infer<typeof modelSummarySchema>;

export const modelListSchema = z.object({ models: z.array(modelSummarySchema) });

/** Every error answer: a stable code to react on, a message for people, and the request field at fault. */
export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('e.g. invalid-input, unknown-model, queue-full (docs/ERRORS.md lists them)'),
    message: z.string(),
    field: z.string().nullable().describe('the request field at fault, e.g. inputs[2].petal_width; null if none'),
  }),
});

export const healthSchema = z.object({ status: z.literal('ok') });

export const readySchema = z.object({
  status: z.enum(['ready', 'draining']),
  models: z.array(z.string()),
});
