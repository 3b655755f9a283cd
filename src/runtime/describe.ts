/**
 * What a model is and how to run it, from three sources in order of precedence:
 * the caller's load options, the `distillery.*` metadata, and the graph itself.
 * Anything none of them settles is listed in `info.unknown`.
 */
import { z } from 'zod';
import { ModelLoadError } from './errors';
import { InputValidationError } from '../core/errors';
import { formatShape, normalizationProblem, product } from './input';
import { labelsSchema, Metadata, normalizationSchema, outputKindSchema } from './metadata';
import { ONNX_FLOAT, type GraphFacts, type ValueFacts } from './model-file';
import type { ModelBytes } from './platform';
import type { RunPlan } from './run';
import type { InfoField, LoadOptions, ModelInfo, Normalization, OutputKind, Task } from './types';

export interface ModelDescription {
  readonly info: ModelInfo;
  readonly plan: RunPlan;
}

const loadOptionsSchema = z.object({
  inputName: z.string().min(1).optional(),
  outputName: z.string().min(1).optional(),
  sampleShape: z.array(z.number().int().positive()).min(1).optional(),
  outputKind: outputKindSchema.optional(),
  labels: labelsSchema.optional(),
  normalization: normalizationSchema.nullable().optional(),
  threads: z.number().int().positive().optional(),
});

/**
 * Validates load options up front so that a typo fails with the option's name; a platform passes the schema of its
 * own options (the browser's backend and wasmPaths) to be checked in the same pass.
 */
export function checkLoadOptions<T extends LoadOptions>(options: T, platformOptions?: z.ZodObject): T {
  const schema = platformOptions === undefined ? loadOptionsSchema : loadOptionsSchema.extend(platformOptions.shape);
  const parsed = schema.safeParse(options, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = ['options', ...(issue?.path ?? []).map(String)].join('.');
    throw new InputValidationError(path, issue?.message ?? 'a valid option', String(issue?.input));
  }
  return options;
}

export function describeModel(
  source: Pick<ModelBytes, 'file' | 'location' | 'stem'>,
  facts: GraphFacts,
  options: LoadOptions,
): ModelDescription {
  const file = source.file;
  const meta = new Metadata(facts.metadata, file);
  const unknown: InfoField[] = [];
  /** The first defined source wins; when none is defined, the field is recorded as unknown. */
  const settle = <T>(field: InfoField, fallback: T, ...sources: (T | undefined)[]): T => {
    for (const source of sources) if (source !== undefined) return source;
    unknown.push(field);
    return fallback;
  };

  const inputMeta = options.inputName && options.sampleShape ? undefined : meta.get('input');
  const input = pickValue(file, 'input', facts.inputs, options.inputName ?? inputMeta?.name, 'inputName');
  if (input.value.elemType !== ONNX_FLOAT) {
    throw new ModelLoadError(
      file,
      'unsupported',
      `input ${input.value.name} is not float32 (ONNX type ${input.value.elemType})`,
    );
  }
  const batch = planBatch(file, input.value, options.sampleShape ?? inputMeta?.shape);

  const outputMeta = options.outputName && options.outputKind ? undefined : meta.get('output');
  const output = pickValue(file, 'output', facts.outputs, options.outputName ?? outputMeta?.name, 'outputName');
  if (!output.settled) unknown.push('output.name');
  const outputSize = valuesPerSample(output.value, batch.batchAxis);
  const producedBySoftmax =
    facts.producers.get(output.value.name) === 'Softmax' ? ('probabilities' as const) : undefined;
  const kind = settle<OutputKind>('output.kind', 'logits', options.outputKind, outputMeta?.kind, producedBySoftmax);
  const task = settleTask(settle, kind, options.outputKind !== undefined, meta.get('task'), file);

  const normalization = settle<Normalization | null>(
    'normalization',
    null,
    options.normalization,
    options.normalization === undefined ? meta.get('normalization') : undefined,
  );
  checkNormalization(file, normalization, batch.sampleShape, options.normalization !== undefined);
  const labels = settle<readonly string[] | null>(
    'labels',
    null,
    options.labels,
    options.labels ? undefined : meta.get('labels'),
  );
  checkLabels(file, labels, outputSize, options.labels !== undefined);

  const info: ModelInfo = {
    file: source.location,
    name: settle('name', source.stem, meta.get('name')),
    role: settle('role', null, meta.get('role')),
    task,
    input: { name: input.value.name, shape: batch.sampleShape, dtype: 'float32' },
    output: { name: output.value.name, kind, size: outputSize },
    normalization,
    normalizationInGraph:
      options.normalization === undefined && normalization !== null && meta.get('normalizationInGraph') === true,
    quantization: meta.get('quantization') ?? null,
    labels,
    model: settle('model', null, meta.record('model')),
    method: settle('method', null, meta.record('method')),
    teacher: settle('teacher', null, meta.record('teacher')),
    training: settle('training', null, meta.record('training')),
    metrics: settle('metrics', null, meta.record('metrics')),
    params: settle('params', null, meta.get('params'), facts.floatParams > 0 ? facts.floatParams : undefined),
    flopsPerSample: settle('flopsPerSample', null, meta.get('flopsPerSample')),
    preprocess: meta.get('preprocess') ?? null, // absent (a model of arrays, or from v0.1): nothing to apply, not unknown
    tokenizer: null, // a text model's: read by describeBytes (src/runtime/onnx-model.ts), which checks its sha256
    version: settle('version', null, meta.get('version')),
    fixedBatchSize: batch.fixedBatchSize,
    unknown: [
      ...(input.settled ? [] : (['input.name'] as const)),
      ...(batch.shapeSettled ? [] : (['input.shape'] as const)),
      ...unknown,
    ],
  };
  const plan: RunPlan = {
    inputName: input.value.name,
    outputName: output.value.name,
    features: product(batch.sampleShape),
    tensorSampleDims: batch.tensorSampleDims,
    batchAxis: batch.batchAxis,
    fixedBatchSize: batch.fixedBatchSize,
  };
  return { info, plan };
}

type Settle = <T>(field: InfoField, fallback: T, ...sources: (T | undefined)[]) => T;

/** An explicit output kind decides the task (`values` means regression); otherwise the metadata does. */
function settleTask(
  settle: Settle,
  kind: OutputKind,
  kindFromOptions: boolean,
  recorded: Task | undefined,
  file: string,
): Task {
  const fromKind: Task = kind === 'values' ? 'regression' : 'classification';
  if (kindFromOptions) return fromKind;
  if (recorded !== undefined && recorded !== fromKind) {
    throw new ModelLoadError(file, 'invalid-metadata', `distillery.task is ${recorded} but the output kind is ${kind}`);
  }
  return settle<Task>('task', 'classification', recorded, kind === 'logits' ? undefined : fromKind);
}

/** The named graph value, or the only one when no name is given. */
function pickValue(
  file: string,
  what: 'input' | 'output',
  values: readonly ValueFacts[],
  name: string | undefined,
  option: string,
): { value: ValueFacts; settled: boolean } {
  const names = values.map((value) => value.name).join(', ');
  if (name !== undefined) {
    const value = values.find((candidate) => candidate.name === name);
    if (!value)
      throw new ModelLoadError(file, 'unsupported', `the graph has no ${what} named ${name} (it has: ${names})`);
    return { value, settled: true };
  }
  const [first] = values;
  if (first === undefined) throw new ModelLoadError(file, 'not-onnx', `the graph has no ${what}s`);
  if (what === 'input' && values.length > 1) {
    throw new ModelLoadError(file, 'unsupported', `the graph has several inputs (${names}); pass options.${option}`);
  }
  // Several outputs: the first is the usual convention, but we say we guessed.
  return { value: first, settled: values.length === 1 };
}

interface BatchPlan {
  readonly sampleShape: readonly number[];
  readonly shapeSettled: boolean;
  readonly tensorSampleDims: readonly number[];
  readonly batchAxis: boolean;
  readonly fixedBatchSize: number | null;
}

/**
 * Relates one sample's shape to the graph input's dims. The graph has either a
 * batch axis in front (dynamic, or fixed — often to 1 in foreign models) or,
 * when the sample shape has the graph's full rank, no batch axis at all.
 */
export function planBatch(file: string, input: ValueFacts, requestedShape: readonly number[] | undefined): BatchPlan {
  const dims = input.dims;
  if (requestedShape === undefined) {
    const derived = dims?.slice(1);
    if (!derived || derived.length === 0 || derived.some((size) => size === null)) {
      const shown = dims ? formatShape(dims) : 'unknown';
      throw new ModelLoadError(
        file,
        'unsupported',
        `cannot tell the sample shape of input ${input.name} (${shown}); pass options.sampleShape`,
      );
    }
    const sampleShape = derived as number[];
    const fixedBatchSize = dims?.[0] ?? null;
    // A symbolic first axis is surely the batch; a fixed one (often 1) is our
    // guess, which is why the shape is then reported as unknown.
    return {
      sampleShape,
      shapeSettled: fixedBatchSize === null,
      tensorSampleDims: sampleShape,
      batchAxis: true,
      fixedBatchSize,
    };
  }
  if (dims === null) {
    return {
      sampleShape: requestedShape,
      shapeSettled: true,
      tensorSampleDims: requestedShape,
      batchAxis: true,
      fixedBatchSize: null,
    };
  }
  const batchAxis = dims.length !== requestedShape.length;
  const graphSample = batchAxis ? dims.slice(1) : dims;
  // The graph's own dims when it declares them all (the sample may be given
  // with another nesting, e.g. [784] for [1, 28, 28]); the requested ones otherwise.
  const known = graphSample.every((size) => size !== null) ? (graphSample as number[]) : null;
  const fits = known ? product(known) === product(requestedShape) : graphSample.length === requestedShape.length;
  if (!fits || (known === null && graphSample.some((size, i) => size !== null && size !== requestedShape[i]))) {
    throw new ModelLoadError(
      file,
      'unsupported',
      `sample shape ${formatShape(requestedShape)} does not fit input ${input.name} ${formatShape(dims)}`,
    );
  }
  return {
    sampleShape: requestedShape,
    shapeSettled: true,
    tensorSampleDims: known ?? requestedShape,
    batchAxis,
    fixedBatchSize: batchAxis ? (dims[0] ?? null) : 1,
  };
}

/** Values per sample in a graph output, when its dims say so. */
function valuesPerSample(value: ValueFacts, batchAxis: boolean): number | null {
  const perSample = batchAxis ? value.dims?.slice(1) : value.dims;
  if (!perSample || perSample.some((size) => size === null)) return null;
  return product(perSample as number[]);
}

function checkNormalization(
  file: string,
  normalization: Normalization | null,
  sampleShape: readonly number[],
  fromOptions: boolean,
): void {
  if (normalization === null) return;
  const problem = normalizationProblem(normalization, sampleShape);
  if (problem === null) return;
  if (fromOptions)
    throw new InputValidationError('options.normalization', 'mean/std that fit the sample shape', problem);
  throw new ModelLoadError(file, 'invalid-metadata', `distillery.normalization: ${problem}`);
}

function checkLabels(
  file: string,
  labels: readonly string[] | null,
  outputSize: number | null,
  fromOptions: boolean,
): void {
  if (labels === null || outputSize === null || labels.length === outputSize) return;
  const problem = `${labels.length} labels for an output of ${outputSize} values`;
  if (fromOptions) throw new InputValidationError('options.labels', `${outputSize} labels`, problem);
  throw new ModelLoadError(file, 'invalid-metadata', `distillery.labels: ${problem}`);
}
