#!/usr/bin/env python3
"""Training from memory-mapped .npy shards against the same rows in memory: samples/s and equal weights.

The same teacher (784-1200-1200-10 MLP by default, SGD, constant lr) trains for --epochs on the same rows three
ways, each through the engine's public API (``distillery.api.call('train_teacher', …)``):

- memory: one .npz, the rows resident on the device (the default path);
- shards: the rows cut into --shards .npy files, a ``shards`` source — read memory-mapped, a batch ahead;
- host:   (CUDA only) the .npz with ``fits_on_device`` forced false — rows in host memory, copied a batch ahead
          through pinned memory, as for data too large for the GPU.

Reported per way: the median epoch's samples/s (after the first) and the largest |difference| of the weights from
the memory run's (the same data order: 0 on the CPU, float rounding on a GPU).

    OMP_NUM_THREADS=2 node scripts/python.js bench/shards.py                  # full MNIST when ../shared has it
    python3 bench/shards.py --device cuda                                     # on a GPU machine (bench/device/run_all.sh)

Writes shards.json under bench/out (or $OUT).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def rows(args: argparse.Namespace):
    import numpy as np

    if args.data:
        arrays = np.load(args.data)
        return arrays["x"], arrays["y"]
    full = os.path.join(common.FULL_MNIST, "train.npz")
    if os.path.exists(full):
        arrays = np.load(full)
        return arrays["x"], arrays["y"]
    from distillery.data import embedded_mnist

    return embedded_mnist()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--hidden", default="1200,1200")
    parser.add_argument("--data", help=".npz with x, y (default: full MNIST from ../shared, else the embedded digits)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from distillery import api
    from distillery import shards as data_module  # where the split decides between resident and host rows
    from distillery.checkpoints import load_checkpoint

    x, y = rows(args)
    folder = tempfile.mkdtemp(prefix="distillery-shards-bench-")
    np.savez(os.path.join(folder, "whole.npz"), x=x, y=y)
    xs, ys = [], []
    for i, part in enumerate(np.array_split(np.arange(len(x)), args.shards)):
        xs.append(os.path.join(folder, f"x-{i:03d}.npy"))
        ys.append(os.path.join(folder, f"y-{i:03d}.npy"))
        np.save(xs[-1], x[part])
        np.save(ys[-1], y[part])
    test = common.file_source(os.path.join(folder, "whole.npz"), limit=2000)
    sources = {
        "memory": common.file_source(os.path.join(folder, "whole.npz")),
        "shards": {"type": "shards", "x": xs, "y": ys, "offset": 0, "labelled": True},
    }
    ways = ["memory", "shards"] + (["host"] if args.device.startswith("cuda") else [])
    training = common.training(args.epochs, common.sgd(0.05), batch_size=args.batch, schedule="constant")
    teacher = {
        "type": "train",
        "name": "teacher",
        "model": common.mlp([int(w) for w in args.hidden.split(",")]),
        "training": training,
    }
    results, weights = {}, {}
    for way in ways:
        data = {
            "task": "classification",
            "train": sources["shards" if way == "shards" else "memory"],
            "test": test,
            "normalize": "standard",
            "preprocess": None,
        }
        original = data_module.fits_on_device
        if way == "host":
            data_module.fits_on_device = lambda nbytes, device: False
        try:
            result = api.call(
                "train_teacher",
                common.train_teacher_request(data, os.path.join(folder, way), teacher, device=args.device),
                common.progress(f"{way} "),
            )
        finally:
            data_module.fits_on_device = original
        rates = [epoch["samplesPerSecond"] for epoch in result["history"][1:]] or [
            result["history"][0]["samplesPerSecond"]
        ]
        weights[way] = load_checkpoint(result["checkpoint"], torch.device("cpu")).module.state_dict()
        results[way] = {"samplesPerSecond": statistics.median(rates), "testErrors": result["metrics"]["testErrors"]}
    for way in ways:
        results[way]["maxAbsWeightDiff"] = max(
            float((weights[way][k] - weights["memory"][k]).abs().max()) for k in weights["memory"]
        )
        print(
            f"{way:7s} {results[way]['samplesPerSecond']:>10,.0f} samples/s  max |w - w_memory| {results[way]['maxAbsWeightDiff']:.3g}  "
            f"test errors {results[way]['testErrors']}"
        )
    common.write_json(
        "shards.json",
        {
            "device": args.device,
            "epochs": args.epochs,
            "batch": args.batch,
            "shards": args.shards,
            "rows": len(x),
            "hidden": args.hidden,
            "results": results,
            "shardsOverMemory": results["shards"]["samplesPerSecond"] / results["memory"]["samplesPerSecond"],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
