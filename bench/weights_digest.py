"""The sha256 of every model's weights in a run folder, to show a refactor left the numerics bit-identical.

Raw .pt and .onnx bytes differ between identical trainings (pickled metadata; the exporter records source
lines), so the digest hashes the tensors alone: each checkpoint's state-dict tensors and each ONNX file's
initializers, by name, in sorted order. Test metrics from report.json are printed beside them.

    node scripts/python.js bench/weights_digest.py runs/demo > before.json   # then again after, and diff
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def tensors_sha256(named: Iterable[tuple[str, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for name, array in sorted(named, key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def flatten(prefix: str, value: Any) -> Iterable[tuple[str, np.ndarray]]:
    if isinstance(value, torch.Tensor):
        yield prefix, value.detach().cpu().contiguous().numpy()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(f"{prefix}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from flatten(f"{prefix}.{index}", item)


def digest(run: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for checkpoint in sorted((run / "checkpoints").glob("*.pt")):
        if not checkpoint.name.endswith(".state.pt"):
            out[f"pt:{checkpoint.stem}"] = tensors_sha256(flatten("", torch.load(checkpoint, weights_only=True)))
    for model in sorted(run.glob("*.onnx")):
        graph = onnx.load(str(model)).graph
        out[f"onnx:{model.stem}"] = tensors_sha256((i.name, numpy_helper.to_array(i)) for i in graph.initializer)
    report = json.loads((run / "report.json").read_text())
    for student in [report["teacher"], *report["students"]]:
        test = student.get("test") or {}
        out[f"test:{student['name']}"] = {k: v for k, v in sorted(test.items()) if isinstance(v, (int, float))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (report.json, checkpoints/, *.onnx)")
    print(json.dumps(digest(parser.parse_args().run), indent=1))


if __name__ == "__main__":
    main()
