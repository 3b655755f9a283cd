import type { InferenceSession } from 'onnxruntime-node';
import { describeModel, checkLoadOptions, type ModelDescription } from './describe';
import { InferenceError, ModelLoadError } from './errors';
import { InputPreparer, type PreparedRows } from './input';
import { decodeModel, graphFacts, readModelBytes } from './model-file';
import { toPredictions, type OutputMeaning } from './postprocess';
import { createSession, defaultThreads, runRows, type RawOutput, type RunPlan } from './session';
import type { Batch, LoadOptions, ModelInfo, Prediction, Predictor, Sample } from './types';

/** What every way of running a model needs, read once from the file. */
export interface LoadedModel extends ModelDescription {
  readonly bytes: Uint8Array;
  readonly preparer: InputPreparer;
  readonly meaning: OutputMeaning;
}

export async function readModel(file: string, options: LoadOptions): Promise<LoadedModel> {
  checkLoadOptions(options);
  const bytes = await readModelBytes(file);
  const description = describeModel(file, graphFacts(decodeModel(bytes, file)), options);
  const { info } = description;
  return {
    ...description,
    bytes,
    preparer: new InputPreparer(info.input.shape, info.normalization),
    meaning: { task: info.task, kind: info.output.kind, labels: info.labels },
  };
}

/** Raw output rows → predictions, after checking that the output is what the info promised. */
export function predictionsFrom(info: ModelInfo, output: RawOutput, meaning: OutputMeaning): Prediction[] {
  const expected = info.output.size ?? info.labels?.length ?? null;
  if (output.width === 0 || (expected !== null && output.width !== expected)) {
    throw new InferenceError(info.name, `output ${info.output.name} has ${output.width} values per sample, expected ${expected ?? 'at least 1'}`);
  }
  return toPredictions(output.data, output.width, meaning);
}

/** A model on one onnxruntime session. Cheap to call concurrently: runs are async. */
export class StudentModel implements Predictor {
  private constructor(
    readonly info: ModelInfo,
    private readonly session: InferenceSession,
    private readonly plan: RunPlan,
    private readonly preparer: InputPreparer,
    private readonly meaning: OutputMeaning,
  ) {}

  static async load(file: string, options: LoadOptions = {}): Promise<StudentModel> {
    const loaded = await readModel(file, options);
    let session: InferenceSession;
    try {
      session = await createSession(loaded.bytes, options.threads ?? defaultThreads());
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new ModelLoadError(file, 'session-failed', `onnxruntime rejected the model: ${detail}`, { cause: error });
    }
    return new StudentModel(loaded.info, session, loaded.plan, loaded.preparer, loaded.meaning);
  }

  async predict(sample: Sample): Promise<Prediction> {
    const [prediction] = await this.run({ data: this.preparer.sample(sample), rows: 1 });
    return prediction as Prediction;
  }

  /** One onnxruntime run for the whole batch (chunks of the fixed size when the graph fixes it). */
  async predictBatch(samples: Batch): Promise<Prediction[]> {
    return this.run(this.preparer.batch(samples));
  }

  /** Frees the native session. The model cannot be used afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }

  private async run(prepared: PreparedRows): Promise<Prediction[]> {
    let output: RawOutput;
    try {
      output = await runRows(this.session, this.plan, prepared.data, prepared.rows);
    } catch (error) {
      throw new InferenceError(this.info.name, error instanceof Error ? error.message : String(error), { cause: error });
    }
    return predictionsFrom(this.info, output, this.meaning);
  }
}
