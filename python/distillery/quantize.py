"""Quantised and half-precision variants of an exported model: int8 (dynamic, or static QDQ calibrated on data) and
fp16.

Each variant is a separate ``.onnx`` file next to its source, with the source's ``distillery.*`` metadata and one key
more, ``distillery.quantization`` (method, tool, source file and hash, calibration rows). Inputs and outputs stay
float32, so the runtime loads a variant like any model. The tools are onnxruntime's own: ``quantize_dynamic``,
``quantize_static`` (QDQ, MinMax calibration) and ``onnxruntime.transformers.float16.convert_float_to_float16``.

Calibration rows are what the runtime is given: raw inputs (pixels 0-255, encoded table rows). When the graph does
not apply the normalisation itself (``distillery.normalizationInGraph`` absent, older exports), the recorded
normalisation is applied to them first, as the runtime would. They are fed in the graph's own batch size: foreign
models often fix their batch axis (to 1, mostly), and onnxruntime refuses any other.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any, Optional, Union

import numpy as np

from .errors import QuantizationError
from .io import atomic_path, file_sha256
from .shards import ShardArray

METHODS = ("int8-dynamic", "int8-static", "fp16")
# At most this many calibration rows are used (a sample of the transfer set, taken evenly).
CALIBRATION_ROWS = 512
CALIBRATION_BATCH = 64


def variant_path(source: str, method: str) -> str:
    """``runs/demo/soft-t20.onnx`` → ``runs/demo/soft-t20.int8-static.onnx``."""
    stem, extension = os.path.splitext(source)
    return f"{stem}.{method}{extension or '.onnx'}"


def read_calibration(path: str) -> np.ndarray:
    """The ``x`` array of an ``.npz`` (or the array of an ``.npy``), as float32."""
    if not os.path.exists(path):
        raise QuantizationError(f"calibration data {path}: no such file", file=path)
    try:
        if path.endswith(".npy"):
            return np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
        with np.load(path, allow_pickle=False) as arrays:
            if "x" not in arrays.files:
                raise QuantizationError(
                    f"calibration data {path}: no array 'x' (found {', '.join(arrays.files) or 'none'})", file=path
                )
            return np.asarray(arrays["x"], dtype=np.float32)
    except QuantizationError:
        raise
    except Exception as error:  # numpy raises several types for a file that is not an array file
        raise QuantizationError(f"calibration data {path}: cannot be read as .npz/.npy: {error}", file=path) from error


def quantize(
    source: str,
    method: str,
    destination: Optional[str] = None,
    *,
    calibration: Optional[np.ndarray] = None,
    calibration_file: Optional[str] = None,
) -> dict[str, Any]:
    """Writes one variant of ``source``; returns {method, path, sizeBytes, sha256, sizeRatio, calibrationRows}.

    ``calibration`` (rows of raw inputs, [N, *sample shape] or [N, features]) is required for ``int8-static``;
    ``calibration_file`` names where they came from, for error messages.
    """
    import onnx

    if method not in METHODS:
        raise QuantizationError(
            f"method: expected one of {', '.join(METHODS)}, got {method!r}", field="method", file=source
        )
    destination = destination or variant_path(source, method)
    try:
        model = onnx.load(source)
    except Exception as error:
        raise QuantizationError(f"{source}: not a readable ONNX model: {error}", file=source) from error
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    rows = None
    if method == "int8-static":
        if calibration is None:
            raise QuantizationError(
                f"{source}: int8-static quantisation needs calibration data (the transfer set in an experiment; "
                "`--data calib.npz` on the command line); int8-dynamic needs none",
                file=source,
                field="data",
            )
        rows = _calibration_rows(calibration, model, metadata, calibration_file or source)
    with atomic_path(destination) as temporary:
        if method == "fp16":
            _fp16(model, source, temporary)
        else:
            _int8(source, temporary, rows)
        _stamp(
            temporary,
            metadata,
            {
                "method": method,
                "source": os.path.basename(source),
                "sourceSha256": file_sha256(source),
                "calibrationRows": None if rows is None else len(rows),
                "tool": _tool(method),
            },
        )
        _check_loads(temporary, destination)
    size = os.path.getsize(destination)
    return {
        "method": method,
        "path": destination,
        "sizeBytes": size,
        "sha256": file_sha256(destination),
        "sizeRatio": size / os.path.getsize(source),
        "calibrationRows": None if rows is None else len(rows),
    }


def _calibration_rows(x: Union[np.ndarray, ShardArray], model: Any, metadata: dict[str, str], file: str) -> np.ndarray:
    """Calibration rows shaped as the graph's input, normalised when the graph does not do it, at most
    CALIBRATION_ROWS."""
    _require_one_data_input(model, file)
    shape = sample_shape(model, metadata)
    features = int(np.prod(shape))
    if x.ndim < 2 or len(x) == 0 or int(np.prod(x.shape[1:])) != features:
        raise QuantizationError(
            f"calibration data {file}: expected rows of shape [N, {', '.join(map(str, shape))}] "
            f"({features} values each), "
            f"got an array of shape {list(x.shape)}",
            file=file,
            field="data",
            details={"expected": [None, *shape], "received": list(x.shape)},
        )
    # Sample first, then materialise: a sharded transfer set stays on disk except for the rows calibration reads.
    if len(x) > CALIBRATION_ROWS:
        x = x[np.linspace(0, len(x) - 1, CALIBRATION_ROWS).round().astype(np.int64)]
    rows = x.take(np.arange(len(x))) if isinstance(x, ShardArray) else np.asarray(x)
    if not np.isfinite(rows).all():
        raise QuantizationError(f"calibration data {file}: holds NaN or infinite values", file=file, field="data")
    return graph_input(rows, shape, metadata)


def graph_input(x: np.ndarray, shape: list[int], metadata: dict[str, str]) -> np.ndarray:
    """Raw rows as an exported graph takes them: float32 [N, *shape], normalised here when the graph does not do it
    itself (``distillery.normalizationInGraph`` absent: older exports)."""
    rows = x.reshape(len(x), *shape).astype(np.float32)
    normalization = json.loads(metadata.get("distillery.normalization", "null"))
    if normalization and metadata.get("distillery.normalizationInGraph") != "true":
        # As the runtime does it: mean/std of length 1, C or features, repeated to one value per feature, in float64.
        features = int(np.prod(shape))
        mean, std = np.asarray(normalization["mean"], np.float64), np.asarray(normalization["std"], np.float64)
        flat = rows.reshape(len(rows), features).astype(np.float64)
        flat = (flat - np.repeat(mean, features // mean.size)) / np.repeat(std, features // std.size)
        rows = flat.astype(np.float32).reshape(len(rows), *shape)
    return rows


def sample_shape(model: Any, metadata: dict[str, str]) -> list[int]:
    """One sample's shape: from the metadata, else from the graph's input (its first axis taken as the batch)."""
    if "distillery.input" in metadata:
        return [int(size) for size in json.loads(metadata["distillery.input"])["shape"]]
    dims = data_inputs(model)[0].type.tensor_type.shape.dim
    return [int(dim.dim_value) or 1 for dim in dims[1:]]


def data_inputs(model: Any) -> list[Any]:
    """The graph's inputs that take data: older exports (IR < 4) list every initializer among the inputs too."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def fixed_batch_size(model: Any) -> Optional[int]:
    """The size the graph fixes its batch axis (the data input's first) to; None when that axis is free."""
    dims = data_inputs(model)[0].type.tensor_type.shape.dim
    return int(dims[0].dim_value) if dims and dims[0].dim_value > 0 else None


def feed_batches(rows: np.ndarray, size: int, fixed: Optional[int]) -> Iterator[tuple[np.ndarray, int]]:
    """``rows`` in batches a graph accepts, each with how many of its leading rows are real: ``size`` rows at a time
    when the batch axis is free; exactly ``fixed`` rows when the graph fixes it, the last batch filled up by
    repeating its own rows (which leaves min/max calibration ranges as they are; callers drop those outputs)."""
    step = fixed or size
    for start in range(0, len(rows), step):
        batch = rows[start : start + step]
        real = len(batch)
        if fixed is not None and real < fixed:
            batch = np.resize(batch, (fixed, *batch.shape[1:]))  # repeats whole rows, in order
        yield batch, real


def run_in_batches(session: Any, rows: np.ndarray, size: int) -> np.ndarray:
    """The first output of an onnxruntime ``session`` on ``rows``, fed in batches its data input accepts."""
    data = session.get_inputs()[0]
    first = data.shape[0] if data.shape else None
    fixed = first if isinstance(first, int) and first > 0 else None
    parts = [session.run(None, {data.name: batch})[0][:real] for batch, real in feed_batches(rows, size, fixed)]
    return np.concatenate(parts)


def _require_one_data_input(model: Any, file: str) -> None:
    """Calibration feeds one array: a graph with several data inputs cannot be calibrated from it."""
    names = [value.name for value in data_inputs(model)]
    if len(names) != 1:
        raise QuantizationError(
            f"calibration data {file}: the model takes {len(names)} inputs ({', '.join(names) or 'none'}); "
            "int8-static calibration feeds one array of rows, so it needs a model with exactly one input "
            "(int8-dynamic needs no data)",
            file=file,
            field="data",
            details={"inputs": names},
        )


def _int8(source: str, temporary: str, rows: Optional[np.ndarray]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # the tools warn about pre-processing
    if rows is None:
        quantize_dynamic(source, temporary, weight_type=QuantType.QInt8)
        return
    import onnx

    model = onnx.load(source, load_external_data=False)
    input_name = data_inputs(model)[0].name
    # In the graph's own batch size when it fixes one: onnxruntime refuses a batch of 64 for an input fixed at 1.
    batches = [batch for batch, _ in feed_batches(rows, CALIBRATION_BATCH, fixed_batch_size(model))]

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints: its base is Any
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> Optional[dict[str, np.ndarray]]:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    # QDQ: QuantizeLinear/DequantizeLinear around each quantised op; onnxruntime fuses them into int8 kernels.
    quantize_static(
        source,
        temporary,
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=False,
    )


def _fp16(model: Any, source: str, temporary: str) -> None:
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    floats = _float_tensors(model)
    blocked = sorted(
        {
            node.op_type
            for node in model.graph.node
            if node.op_type in DEFAULT_OP_BLOCK_LIST and any(name in floats for name in node.input)
        }
    )
    if blocked:
        raise QuantizationError(
            f"{source}: fp16 conversion cannot convert the op(s) {', '.join(blocked)} (onnxruntime's float16 converter "
            "keeps them in float32); use int8-dynamic or int8-static instead",
            file=source,
            field="method",
            details={"ops": blocked},
        )
    try:
        converted = convert_float_to_float16(model, keep_io_types=True)
    except Exception as error:
        raise QuantizationError(f"{source}: fp16 conversion failed: {error}", file=source, field="method") from error
    _exact_integer_inputs(converted)
    onnx.save(converted, temporary)


def _float_tensors(model: Any) -> set[str]:
    """The names of the graph's float32 tensors (by shape inference), and of those whose type it cannot tell: an op
    the converter keeps in float32 matters only when it takes floats (a CumSum or Min over int64 indices does not)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:
        inferred = model.graph
    typed = {value.name: value.type.tensor_type.elem_type for value in [*inferred.value_info, *inferred.input]}
    typed.update({tensor.name: tensor.data_type for tensor in inferred.initializer})
    names = {name for node in model.graph.node for name in node.input if name}
    return {name for name in names if typed.get(name, onnx.TensorProto.FLOAT) == onnx.TensorProto.FLOAT}


_INTEGER_TYPES = (6, 7, 12, 13)  # INT32, INT64, UINT32, UINT64


def _exact_integer_inputs(model: Any) -> None:
    """Token ids travel as float32 and are cast to int64 inside a text model's graph. The converter casts the float32
    input to float16 first, which rounds ids above 2048; a slice of the input whose every use is an integer cast is
    fed the float32 input instead, so the ids stay exact."""
    graph = model.graph
    casts = {node.output[0]: node for node in graph.node if node.name.startswith("graph_input_cast")}
    originals = {output: node.input[0] for output, node in casts.items()}
    users: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    rewired = set()
    for node in graph.node:
        if node.op_type != "Slice" or not node.input or node.input[0] not in originals:
            continue
        uses = users.get(node.output[0], [])
        if uses and all(
            use.op_type == "Cast" and any(a.name == "to" and a.i in _INTEGER_TYPES for a in use.attribute)
            for use in uses
        ):
            node.input[0] = originals[node.input[0]]
            rewired.add(node.output[0])
    kept = [value for value in graph.value_info if value.name not in rewired]  # their type is float32 now
    del graph.value_info[:]
    graph.value_info.extend(kept)


def _stamp(temporary: str, metadata: dict[str, str], quantization: dict[str, Any]) -> None:
    """The source's metadata, with ``distillery.quantization`` added (the tools may drop metadata_props)."""
    import onnx

    model = onnx.load(temporary)
    onnx.helper.set_model_props(model, {**metadata, "distillery.quantization": json.dumps(quantization)})
    onnx.save(model, temporary)


def _check_loads(path: str, destination: str) -> None:
    """onnxruntime must accept the variant (a CPU kernel for every op in its precision)."""
    import onnxruntime

    try:
        onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise QuantizationError(
            f"{destination}: onnxruntime cannot run the variant: {error}", file=destination
        ) from error


def _tool(method: str) -> str:
    import onnxruntime

    where = "transformers.float16" if method == "fp16" else "quantization"
    return f"onnxruntime {onnxruntime.__version__} {where}"
