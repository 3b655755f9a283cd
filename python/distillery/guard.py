"""The accuracy guard of quantised variants (``export.maxAccuracyDrop``).

A variant is rejected when its accuracy falls more than the allowed percentage points below its float32 model's.
Both files run in onnxruntime on the same held-out rows, fed exactly as the runtime feeds them: data.validation
when the experiment has one, else a sample of data.train (quantisation error is a matter of numeric fidelity, so
training rows still show it). Never the test split: that meets each model once, in the final table. The rows come
from the run's data (``RunData.held_out``), read when variants are first made, so nothing is added to loading data
for training.
"""

from __future__ import annotations

from typing import Any

from .data import HeldOutRows
from .quantize import graph_input, run_in_batches, sample_shape
from .results import VariantGuard, wire

BATCH = 1024
GuardRows = HeldOutRows  # the held-out rows the guard judges on (data.RunData.held_out)


def guard_variants(fp32_path: str, variants: list[dict[str, Any]], rows: GuardRows, max_drop: float) -> None:
    """Adds ``guard`` to each variant result: the split, row count, both accuracies, the drop and the verdict."""
    fp32_accuracy = onnx_accuracy(fp32_path, rows)
    for variant in variants:
        variant["guard"] = wire(_judge(fp32_accuracy, onnx_accuracy(variant["path"], rows), rows, max_drop))


def _judge(fp32_accuracy: float, accuracy: float, rows: GuardRows, max_drop: float) -> VariantGuard:
    drop = 100 * (fp32_accuracy - accuracy)
    # 1e-9: an equal accuracy passes whatever the float rounding of the difference.
    return VariantGuard(rows.split, len(rows.y), fp32_accuracy, accuracy, drop, max_drop, bool(drop > max_drop + 1e-9))


def onnx_accuracy(path: str, rows: GuardRows) -> float:
    """Top-1 accuracy of an exported classifier on ``rows``, fed as quantize.py feeds its calibration rows."""
    import onnx
    import onnxruntime

    model = onnx.load(path, load_external_data=False)
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    shape = sample_shape(model, metadata)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    right = 0
    for start in range(0, len(rows.y), BATCH):
        logits = run_in_batches(
            session, graph_input(rows.x[start : start + BATCH], shape, metadata), BATCH
        )  # fixed batch too
        right += int((logits.argmax(axis=1) == rows.y[start : start + BATCH]).sum())
    return right / len(rows.y) if len(rows.y) else 0.0
