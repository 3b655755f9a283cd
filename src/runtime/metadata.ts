/**
 * The `distillery.*` metadata contract (docs/ARCHITECTURE.md), as zod schemas.
 * Every value is a string in the ONNX file; most are JSON.
 */
import { z } from 'zod';
import { Preprocess } from '../preprocess/spec';
import { ModelLoadError } from './errors';
import type { JsonRecord } from './types';

const positiveInt = z.number().int().positive();
const decimalCount = z.string().regex(/^\d+$/, 'expected a decimal integer').transform(Number);
const jsonRecord = z.record(z.string(), z.json());

export const inputSchema = z.object({
  name: z.string().min(1),
  shape: z.array(positiveInt).min(1),
  dtype: z.literal('float32').default('float32'),
});

export const outputKindSchema = z.enum(['logits', 'probabilities', 'values']);

export const outputSchema = z.object({
  name: z.string().min(1),
  kind: outputKindSchema,
});

export const normalizationSchema = z.object({
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().refine((value) => value !== 0, 'std must not be 0')).min(1),
});

export const labelsSchema = z.array(z.string());

export const quantizationSchema = z.object({
  method: z.enum(['int8-dynamic', 'int8-static', 'fp16']),
  source: z.string(),
  sourceSha256: z.string(),
  calibrationRows: z.number().int().nonnegative().nullable(),
  tool: z.string(),
});

/** Each key and how to parse its string value. `json: false` keys are used as they are. */
const FIELDS = {
  version: { json: false, schema: z.string().min(1) },
  name: { json: false, schema: z.string().min(1) },
  role: { json: false, schema: z.enum(['teacher', 'student']) },
  task: { json: false, schema: z.enum(['classification', 'regression']) },
  input: { json: true, schema: inputSchema },
  output: { json: true, schema: outputSchema },
  normalization: { json: true, schema: normalizationSchema.nullable() },
  labels: { json: true, schema: labelsSchema },
  model: { json: true, schema: jsonRecord.nullable() },
  method: { json: true, schema: jsonRecord.nullable() },
  teacher: { json: true, schema: jsonRecord.nullable() },
  training: { json: true, schema: jsonRecord.nullable() },
  metrics: { json: true, schema: jsonRecord.nullable() },
  params: { json: false, schema: decimalCount },
  flopsPerSample: { json: false, schema: decimalCount },
  preprocess: { json: true, schema: Preprocess.nullable() },
  /** "true": the graph applies `normalization` to raw inputs itself (exports since v0.3); the runtime only validates. */
  normalizationInGraph: { json: false, schema: z.enum(['true', 'false']).transform((value) => value === 'true') },
  /** Present on an int8 / fp16 variant (python/distillery/quantize.py). */
  quantization: { json: true, schema: quantizationSchema },
  /** A text model's tokenizer.json, as its text (its sha256 is the text column's `tokenizerSha256`). */
  tokenizer: { json: false, schema: z.string().min(1) },
} as const;

export type MetadataKey = keyof typeof FIELDS;
type MetadataValue<K extends MetadataKey> = z.output<(typeof FIELDS)[K]['schema']>;

export const METADATA_PREFIX = 'distillery.';

/** Typed, lazy access to a model's `distillery.*` entries. */
export class Metadata {
  constructor(
    private readonly entries: ReadonlyMap<string, string>,
    private readonly file: string,
  ) {}

  has(key: MetadataKey): boolean {
    return this.entries.has(METADATA_PREFIX + key);
  }

  /**
   * The parsed value, or `undefined` when the key is absent. A present but
   * malformed value is an error: it means the export is broken.
   */
  get<K extends MetadataKey>(key: K): MetadataValue<K> | undefined {
    const raw = this.entries.get(METADATA_PREFIX + key);
    if (raw === undefined) return undefined;
    const field = FIELDS[key];
    const parsed = field.schema.safeParse(field.json ? parseJson(raw, this.file, key) : raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
      throw new ModelLoadError(
        this.file,
        'invalid-metadata',
        `${METADATA_PREFIX}${key}${where}: ${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data as MetadataValue<K>;
  }

  /** A loosely typed JSON record field (model, method, teacher, training, metrics). */
  record(key: 'model' | 'method' | 'teacher' | 'training' | 'metrics'): JsonRecord | null | undefined {
    return this.get(key);
  }
}

function parseJson(raw: string, file: string, key: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new ModelLoadError(file, 'invalid-metadata', `${METADATA_PREFIX}${key} is not valid JSON`, { cause: error });
  }
}
