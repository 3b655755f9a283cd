"""The accuracy guard of quantised variants (``export.maxAccuracyDrop``).

A variant is rejected when its accuracy falls more than the allowed percentage points below its float32 model's.
Both files run in onnxruntime on the same held-out rows, fed exactly as the runtime feeds them: data.validation
when the experiment has one, else a sample of data.train (quantisation error is a matter of numeric fidelity, so
training rows still show it). Never the test split: that meets each model once, in the final table.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .data import GuardRows

BATCH = 1024


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
    """Top-1 accuracy of an exported classifier on ``rows``, raw inputs when its graph normalises them itself."""
    import onnx
    import onnxruntime

    metadata = {prop.key: prop.value for prop in onnx.load(path, load_external_data=False).metadata_props}
    in_graph = metadata.get("distillery.normalizationInGraph") == "true" or json.loads(metadata.get("distillery.normalization", "null")) is None
    x = rows.raw if in_graph else rows.normalized
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    shape = [int(size) for size in json.loads(metadata["distillery.input"])["shape"]] if "distillery.input" in metadata else list(x.shape[1:])
    right = 0
    for start in range(0, len(x), BATCH):
        batch = np.ascontiguousarray(x[start:start + BATCH], dtype=np.float32).reshape(-1, *shape)
        logits = session.run(None, {name: batch})[0]
        right += int((logits.argmax(axis=1) == rows.y[start:start + BATCH]).sum())
    return right / len(x) if len(x) else 0.0
