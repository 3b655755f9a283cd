"""The accuracy guard of quantised variants (``export.maxAccuracyDrop``).

A variant is rejected when its accuracy falls more than the allowed percentage points below its float32 model's.
Both files run in onnxruntime on the same held-out rows, fed exactly as the runtime feeds them: data.validation
when the experiment has one, else a sample of data.train (quantisation error is a matter of numeric fidelity, so
training rows still show it). Never the test split: that meets each model once, in the final table. The rows are
read from the data config only when variants are made, so nothing is added to loading data for training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .data import read_source, validation_split
from .quantize import graph_input, sample_shape
from .spec import DataSpec, SplitValidation

BATCH = 1024
GUARD_ROWS = 10_000  # evenly spaced rows of data.validation (or data.train without it): enough to see a 0.5-point drop


@dataclass(frozen=True)
class GuardRows:
    """Raw rows (as on disk, as the runtime receives them) and their class indices; ``split`` says where from."""

    split: str
    x: np.ndarray
    y: np.ndarray


def held_out_rows(data: DataSpec) -> Optional[GuardRows]:
    """data.validation's rows (a file, or the rows a ``split`` holds out of data.train), else data.train's; at most
    GUARD_ROWS of them, evenly spaced. None for regression, which the guard does not judge."""
    if data.task != "classification":
        return None
    split = "train" if data.validation is None else "validation"
    if data.validation is not None and not isinstance(data.validation, SplitValidation):
        x, y = read_source(data.validation, "data.validation")
    else:
        x, y = read_source(data.train, "data.train")
        if isinstance(data.validation, SplitValidation) and y is not None:
            held = validation_split(y, data.validation.fraction, data.task)[1]
            x, y = x[held], y[held]
    assert y is not None  # data.train and data.validation are checked for labels when the data is loaded
    index = np.unique(np.linspace(0, len(y) - 1, min(GUARD_ROWS, len(y))).round().astype(np.int64))
    return GuardRows(split, np.asarray(x[index]), y[index].astype(np.int64).reshape(-1))


def guard_variants(fp32_path: str, variants: list[dict[str, Any]], rows: GuardRows, max_drop: float) -> None:
    """Adds ``guard`` to each variant result: the split, row count, both accuracies, the drop and the verdict."""
    fp32_accuracy = onnx_accuracy(fp32_path, rows)
    for variant in variants:
        accuracy = onnx_accuracy(variant["path"], rows)
        drop = 100 * (fp32_accuracy - accuracy)
        # 1e-9: an equal accuracy passes whatever the float rounding of the difference.
        variant["guard"] = {"split": rows.split, "rows": len(rows.y), "fp32Accuracy": fp32_accuracy, "accuracy": accuracy,
                            "dropPoints": drop, "maxDropPoints": max_drop, "rejected": bool(drop > max_drop + 1e-9)}


def onnx_accuracy(path: str, rows: GuardRows) -> float:
    """Top-1 accuracy of an exported classifier on ``rows``, fed as quantize.py feeds its calibration rows."""
    import onnx
    import onnxruntime

    model = onnx.load(path, load_external_data=False)
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    shape = sample_shape(model, metadata)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    right = 0
    for start in range(0, len(rows.y), BATCH):
        logits = session.run(None, {name: graph_input(rows.x[start:start + BATCH], shape, metadata)})[0]
        right += int((logits.argmax(axis=1) == rows.y[start:start + BATCH]).sum())
    return right / len(rows.y) if len(rows.y) else 0.0
