/**
 * Running a prepared (validated, normalised) batch on an onnxruntime session, for every platform: OnnxModel in Node,
 * the pool's worker threads and the browser's OnnxModel all call `runRows`, which is why their results are identical.
 * onnxruntime-node and onnxruntime-web implement the same onnxruntime-common API; the platform hands in its Tensor
 * class (each build checks that the tensors it runs are its own). Keep this module light: it is loaded in every worker.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';

export interface RunPlan {
  readonly inputName: string;
  readonly outputName: string;
  /** Numbers per sample. */
  readonly features: number;
  /** One sample's dims as the graph declares them (their product is `features`). */
  readonly tensorSampleDims: readonly number[];
  /** false when the graph input has no batch axis at all: one sample per run. */
  readonly batchAxis: boolean;
  /** null: any batch size. Otherwise runs take exactly this many rows (the last chunk is zero-padded). */
  readonly fixedBatchSize: number | null;
}

export interface RawOutput {
  /** `rows * width` float32 values, row-major. */
  readonly data: Float32Array;
  /** Values per row. */
  readonly width: number;
}

/**
 * The session options both platforms use: one operator at a time (the best latency for the chain-shaped graphs we
 * run), every graph optimisation, warnings off (onnxruntime logs benign ones for every exported graph).
 */
export const SESSION_OPTIONS = {
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  logSeverityLevel: 3,
} as const;

/** The platform's Tensor class (onnxruntime-node's or onnxruntime-web's). */
export type TensorClass = new (type: 'float32', data: Float32Array, dims: readonly number[]) => Tensor;

/** Runs `rows` prepared rows, in one run when the batch axis is dynamic, in fixed-size chunks otherwise. */
export async function runRows(
  tensorClass: TensorClass,
  session: InferenceSession,
  plan: RunPlan,
  data: Float32Array,
  rows: number,
): Promise<RawOutput> {
  const chunkRows = plan.batchAxis ? (plan.fixedBatchSize ?? rows) : 1;
  // One run of exactly the rows given (a dynamic batch axis, or a full fixed-size chunk): its output as it is.
  if (chunkRows === rows) return runChunk(tensorClass, session, plan, data, rows);
  let output: Float32Array | null = null;
  let width = 0;
  for (let start = 0; start < rows; start += chunkRows) {
    const used = Math.min(chunkRows, rows - start);
    const chunk = await runChunk(tensorClass, session, plan, chunkInput(plan, data, start, used, chunkRows), chunkRows);
    if (output === null) {
      width = chunk.width;
      output = new Float32Array(rows * width);
    } else if (chunk.width !== width) {
      throw new Error(`output ${plan.outputName} changed width between runs (${width} then ${chunk.width})`);
    }
    // Rows past `used` are the zero padding of a fixed-size last chunk: drop them.
    output.set(chunk.data.subarray(0, used * width), start * width);
  }
  return { data: output ?? new Float32Array(0), width };
}

function chunkInput(plan: RunPlan, data: Float32Array, start: number, used: number, chunkRows: number): Float32Array {
  const from = start * plan.features;
  const values = data.subarray(from, from + used * plan.features);
  if (used === chunkRows) return values;
  const padded = new Float32Array(chunkRows * plan.features);
  padded.set(values);
  return padded;
}

async function runChunk(
  tensorClass: TensorClass,
  session: InferenceSession,
  plan: RunPlan,
  values: Float32Array,
  rows: number,
): Promise<RawOutput> {
  const dims = plan.batchAxis ? [rows, ...plan.tensorSampleDims] : [...plan.tensorSampleDims];
  const results = await session.run({ [plan.inputName]: new tensorClass('float32', values, dims) }, [plan.outputName]);
  const tensor = results[plan.outputName];
  if (tensor === undefined) throw new Error(`the run returned no output named ${plan.outputName}`);
  if (tensor.type !== 'float32')
    throw new Error(`output ${plan.outputName} is ${tensor.type}; only float32 outputs are supported`);
  const out = tensor.data as Float32Array;
  if (out.length % rows !== 0) {
    throw new Error(`output ${plan.outputName} has ${out.length} values for ${rows} rows`);
  }
  return { data: out, width: out.length / rows };
}
