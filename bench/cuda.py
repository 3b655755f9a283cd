#!/usr/bin/env python3
"""CUDA training throughput: teacher (2x1200 + dropout, 2 px jitter) and student (2x800, soft targets T=20, cached
teacher outputs) samples/s with the data resident on the GPU, bf16 autocast on vs off (training.mixedPrecision
'bf16' vs 'off'), and the same runs on the CPU for comparison.

Needs Python with torch (and numpy) only — no Node, no node_modules. Run from a checkout (it imports the engine's
public API, distillery.api, from ../python):

    python3 bench/cuda.py                      # finds the MNIST digits by itself (see below)
    python3 bench/cuda.py --data path/to/mnist-embedded-v1.npz
    DISTILLERY_CACHE_DIR=/folder/with/the/npz python3 bench/cuda.py

The digits: --data (an .npz with x uint8 [N,28,28] and y), else mnist-embedded-v1.npz in $DISTILLERY_CACHE_DIR,
else node_modules/.cache/distillery/ of this checkout (the engine writes it there on first use), else
../shared/data/mnist/train.npz (full MNIST; its first 8000 rows are used). The first 8000 rows train, the next
2000 test. Takes about 1-2 minutes on an H100 (epochs are tiny; the CPU runs are the slow part — --cpu-epochs 0
skips them). Prints a table and writes cuda.json to $OUT if set, else bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))


def find_data(explicit: str | None) -> str:
    candidates = [explicit] if explicit else []
    if os.environ.get("DISTILLERY_CACHE_DIR"):
        candidates.append(os.path.join(os.environ["DISTILLERY_CACHE_DIR"], "mnist-embedded-v1.npz"))
    candidates += [os.path.join(ROOT, "node_modules", ".cache", "distillery", "mnist-embedded-v1.npz"),
                   os.path.join(ROOT, "..", "shared", "data", "mnist", "train.npz")]
    for path in candidates:
        if path and os.path.exists(path):
            return os.path.abspath(path)
    raise SystemExit("MNIST digits not found: pass --data FILE.npz or set DISTILLERY_CACHE_DIR (looked at: " + ", ".join(filter(None, candidates)) + ")")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--epochs", type=int, default=6, help="GPU epochs per run (the first is dropped as warm-up)")
    parser.add_argument("--cpu-epochs", type=int, default=2, help="CPU epochs per run (0: skip the CPU)")
    parser.add_argument("--batch-sizes", default="128,1024")
    args = parser.parse_args()

    import torch

    from distillery import api

    if not torch.cuda.is_available():
        print("warning: torch sees no CUDA device; only the CPU runs will happen", file=sys.stderr)
    path = find_data(args.data)
    source = lambda offset, limit: {"type": "file", "path": path, "x": "x", "y": "y", "offset": offset, "limit": limit, "labelled": True}  # noqa: E731
    data = {"task": "classification", "train": source(0, 8000), "test": source(8000, 2000), "normalize": "standard"}
    sgd = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}

    def training(epochs: int, batch: int, precision: str, shift: int = 0) -> dict:
        spec = {"epochs": epochs, "batchSize": batch, "optimizer": sgd, "weightDecay": 0, "schedule": {"type": "cosine", "warmupEpochs": 0},
                "checkpoint": "last", "mixedPrecision": precision, "teacherOutputs": "auto"}
        if shift:
            spec["augment"] = {"shift": shift, "flip": False, "noise": 0, "mixup": 0, "cutmix": 0}
        return spec

    def rate(history: list[dict]) -> float:
        timed = history[1:] if len(history) > 1 else history  # the first epoch pays for kernel selection / warm-up
        return statistics.median(h["samplesPerSecond"] for h in timed)

    devices = (["cuda"] if torch.cuda.is_available() else []) + (["cpu"] if args.cpu_epochs > 0 else [])
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows, results = [], []
    out_dir = tempfile.mkdtemp(prefix="distillery-cuda-bench-")
    started = time.perf_counter()
    for device in devices:
        epochs = args.epochs if device == "cuda" else args.cpu_epochs
        for batch in batch_sizes if device == "cuda" else batch_sizes[:1]:
            for precision in ("off", "bf16"):
                # complete requests (every default written out, as the TypeScript side sends them); no ONNX export
                teacher = api.call("train_teacher", {"data": data, "outDir": out_dir, "device": device, "seed": 0, "resume": False,
                                                     "export": False, "teacher": {
                    "type": "train", "name": "teacher", "training": training(epochs, batch, precision, shift=2),
                    "model": {"type": "mlp", "hidden": [1200, 1200], "activation": "relu", "dropout": 0.5, "inputDropout": 0.2}}})
                student = api.call("distill", {"data": data, "outDir": out_dir, "device": device, "seed": 1, "resume": False, "export": False,
                                               "teacher": teacher["checkpoint"], "student": {
                    "name": "student", "model": {"type": "mlp", "hidden": [800, 800], "activation": "relu", "dropout": 0, "inputDropout": 0},
                    "method": {"type": "soft-targets", "temperature": 20, "alpha": 0.9}, "training": training(epochs, batch, precision)}})
                for role, result in (("teacher 2x1200", teacher), ("student 2x800", student)):
                    entry = {"device": device, "batchSize": batch, "mixedPrecision": precision, "model": role, "epochs": epochs,
                             "samplesPerSecond": rate(result["history"]), "testAccuracy": result["metrics"].get("testAccuracy"),
                             "flopsPerSample": result["flopsPerSample"], "history": result["history"]}
                    entry["trainGflops"] = 3 * entry["flopsPerSample"] * entry["samplesPerSecond"] / 1e9
                    results.append(entry)
                    rows.append([device, batch, precision, role, f"{entry['samplesPerSecond']:,.0f}", f"{entry['trainGflops']:.1f}",
                                 f"{100 * (entry['testAccuracy'] or 0):.2f}%"])
                print(f"{device} batch {batch} {precision}: teacher {rate(teacher['history']):,.0f}, student {rate(student['history']):,.0f} samples/s "
                      f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    # bf16 speed-up, side by side
    speedups = []
    for entry in results:
        if entry["mixedPrecision"] == "bf16":
            off = next(e for e in results if e["mixedPrecision"] == "off" and e["device"] == entry["device"]
                       and e["batchSize"] == entry["batchSize"] and e["model"] == entry["model"])
            speedups.append({"device": entry["device"], "batchSize": entry["batchSize"], "model": entry["model"],
                             "bf16OverOff": entry["samplesPerSecond"] / off["samplesPerSecond"]})
    widths = [6, 6, 5, 14, 14, 10, 9]
    header = ["device", "batch", "amp", "model", "samples/s", "GFLOP/s", "test acc"]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"\nTraining throughput, MNIST 8000 train / 2000 test from {path}; median epoch after the first; "
          f"GPU: {gpu}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}")
    print("\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]))
    print("\nbf16 autocast over off: " + "; ".join(f"{s['device']} b={s['batchSize']} {s['model']}: {s['bf16OverOff']:.2f}x" for s in speedups))
    print("note: training.mixedPrecision 'bf16' enables autocast on CUDA only; on the CPU both settings run fp32.")
    out = os.environ.get("OUT") or os.path.join(HERE, "out")
    os.makedirs(out, exist_ok=True)
    file = os.path.join(out, "cuda.json")
    with open(file, "w", encoding="utf8") as handle:
        json.dump({"createdAt": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv), "gpu": gpu, "torch": torch.__version__,
                   "cpuThreads": torch.get_num_threads(), "cpu": platform.processor(), "cores": os.cpu_count(), "data": path,
                   "results": results, "bf16Speedups": speedups, "wallSeconds": time.perf_counter() - started}, handle, indent=2)
    print(f"wrote {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
