/**
 * The facts of an .onnx file's graph, from its bytes. onnxruntime (node and web) has no
 * metadata API, so the ModelProto is decoded with onnx-proto (protobufjs).
 */
import { onnx } from 'onnx-proto';
import { ModelLoadError } from './errors';

/** onnx.TensorProto.DataType values that hold floating-point weights. */
const FLOAT_TYPES = new Set([1 /* FLOAT */, 10 /* FLOAT16 */, 11 /* DOUBLE */, 16 /* BFLOAT16 */]);
export const ONNX_FLOAT = 1;

export interface ValueFacts {
  readonly name: string;
  /** onnx.TensorProto.DataType; 0 when the value is not a tensor. */
  readonly elemType: number;
  /** null entries are symbolic or unknown dimensions; the whole array is null when the rank is unknown. */
  readonly dims: readonly (number | null)[] | null;
}

export interface GraphFacts {
  /** Graph inputs that are real inputs (initializers excluded). */
  readonly inputs: readonly ValueFacts[];
  readonly outputs: readonly ValueFacts[];
  /** opType of the node that produces each value. */
  readonly producers: ReadonlyMap<string, string>;
  /** Elements in floating-point initializers: the parameter count. */
  readonly floatParams: number;
  /** The `metadata_props` entries. */
  readonly metadata: ReadonlyMap<string, string>;
}

export function decodeModel(bytes: Uint8Array, file: string): onnx.ModelProto {
  let proto: onnx.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (error) {
    // protobufjs reports truncation as "index out of range" and garbage as a bad wire type.
    const detail = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError(file, 'not-onnx', `not an ONNX model, or the file is truncated or corrupt (${detail})`, {
      cause: error,
    });
  }
  // Random bytes can decode as a message with no graph at all.
  if (!proto.graph || (proto.graph.input ?? []).length === 0 || (proto.graph.output ?? []).length === 0) {
    throw new ModelLoadError(file, 'not-onnx', 'not an ONNX model (no graph with inputs and outputs)');
  }
  return proto;
}

export function graphFacts(proto: onnx.ModelProto): GraphFacts {
  const graph = proto.graph ?? new onnx.GraphProto();
  const initializers = graph.initializer ?? [];
  // Before IR version 4, initializers were also listed as graph inputs.
  const initializerNames = new Set(initializers.map((tensor) => tensor.name ?? ''));
  const producers = new Map<string, string>();
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) producers.set(output, node.opType ?? '');
  }
  return {
    inputs: (graph.input ?? []).filter((value) => !initializerNames.has(value.name ?? '')).map(valueFacts),
    outputs: (graph.output ?? []).map(valueFacts),
    producers,
    floatParams: initializers
      .filter((tensor) => FLOAT_TYPES.has(tensor.dataType ?? 0))
      .reduce(
        (sum, tensor) =>
          sum + (tensor.dims ?? []).reduce<number>((product, dim) => product * toNumber(dim as Countable), 1),
        0,
      ),
    metadata: new Map(proto.metadataProps.map((entry) => [entry.key ?? '', entry.value ?? ''])),
  };
}

function valueFacts(value: onnx.IValueInfoProto): ValueFacts {
  const tensor = value.type?.tensorType;
  const shape = tensor?.shape;
  return {
    name: value.name ?? '',
    elemType: tensor?.elemType ?? 0,
    dims: shape ? (shape.dim ?? []).map(dimension) : null,
  };
}

function dimension(dim: onnx.TensorShapeProto.IDimension): number | null {
  if (dim.dimValue === null || dim.dimValue === undefined || dim.dimParam) return null;
  const value = toNumber(dim.dimValue as Countable);
  return value > 0 ? value : null;
}

/** protobufjs gives int64 fields as Long objects (or numbers, when they fit). */
/** onnx-proto types 64-bit integers as Long, whose declarations it does not ship: a number or a Long. */
type Countable = number | { toNumber(): number };

function toNumber(value: Countable): number {
  return typeof value === 'number' ? value : value.toNumber();
}
