#!/usr/bin/env python3
"""CUDA training throughput: teacher (2x1200 + dropout, 2 px jitter) and student (2x800, soft targets T=20, cached
teacher outputs) samples/s with the data resident on the GPU, bf16 autocast on vs off (training.mixedPrecision
'bf16' vs 'off'), training.compile on vs off, and the same runs on the CPU for comparison; each run's achieved
training FLOP/s as a fraction of the device's measured matmul roofline (torch.mm 8192², fp32 / TF32 / bf16); and
resnet8x4 on 32x32 images (synthetic, 3 channels, 10 classes), images/s with fp32, bf16, bf16 + channels-last and
bf16 + channels-last + compile. The issue's goals on an H200 are printed with each figure: the 2x1200 teacher at
batch 128 >= 400k samples/s, at batch 4096 >= 50 % of the roofline, resnet8x4 >= 30k images/s.

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
    candidates += [
        os.path.join(ROOT, "node_modules", ".cache", "distillery", "mnist-embedded-v1.npz"),
        os.path.join(ROOT, "..", "shared", "data", "mnist", "train.npz"),
    ]
    for path in candidates:
        if path and os.path.exists(path):
            return os.path.abspath(path)
    raise SystemExit(
        "MNIST digits not found: pass --data FILE.npz or set DISTILLERY_CACHE_DIR (looked at: "
        + ", ".join(filter(None, candidates))
        + ")"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data")
    parser.add_argument("--epochs", type=int, default=6, help="GPU epochs per run (the first is dropped as warm-up)")
    parser.add_argument("--cpu-epochs", type=int, default=2, help="CPU epochs per run (0: skip the CPU)")
    parser.add_argument("--batch-sizes", default="128,4096")
    parser.add_argument("--resnet-epochs", type=int, default=4, help="resnet8x4 epochs per run on the GPU (0: skip)")
    args = parser.parse_args()

    import torch

    from distillery import api

    if not torch.cuda.is_available():
        print("warning: torch sees no CUDA device; only the CPU runs will happen", file=sys.stderr)
    path = find_data(args.data)

    def source(offset: int, limit: int) -> dict:
        return {
            "type": "file",
            "path": path,
            "x": "x",
            "y": "y",
            "offset": offset,
            "limit": limit,
            "labelled": True,
        }

    data = {
        "task": "classification",
        "train": source(0, 8000),
        "test": source(8000, 2000),
        "normalize": "standard",
        "preprocess": None,
    }
    sgd = {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}

    def training(
        epochs: int, batch: int, precision: str, shift: int = 0, compile: bool = False, channels_last: bool = False
    ) -> dict:
        spec = {
            "epochs": epochs,
            "batchSize": batch,
            "optimizer": sgd,
            "weightDecay": 0,
            "schedule": {"type": "cosine", "warmupEpochs": 0},
            "checkpoint": "last",
            "mixedPrecision": precision,
            "teacherOutputs": "auto",
            "compile": compile,
            "channelsLast": channels_last,
        }
        if shift:
            spec["augment"] = {"shift": shift, "flip": False, "noise": 0, "mixup": 0, "cutmix": 0}
        return spec

    def rate(history: list[dict]) -> float:
        timed = history[1:] if len(history) > 1 else history  # the first epoch pays for kernel selection / warm-up
        return statistics.median(h["samplesPerSecond"] for h in timed)

    peaks = roofline(torch)
    print(
        f"matmul roofline (GFLOP/s): {json.dumps({k: round(v) for k, v in peaks.items()})}", file=sys.stderr, flush=True
    )
    devices = (["cuda"] if torch.cuda.is_available() else []) + (["cpu"] if args.cpu_epochs > 0 else [])
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows, results = [], []
    out_dir = tempfile.mkdtemp(prefix="distillery-cuda-bench-")
    started = time.perf_counter()
    for device in devices:
        epochs = args.epochs if device == "cuda" else args.cpu_epochs
        variants = [("off", False), ("bf16", False)] + ([("off", True), ("bf16", True)] if device == "cuda" else [])
        for batch in batch_sizes if device == "cuda" else batch_sizes[:1]:
            for precision, compiled in variants:
                # complete requests (every default written out, as the TypeScript side sends them); no ONNX export
                teacher = api.call(
                    "train_teacher",
                    {
                        "data": data,
                        "outDir": out_dir,
                        "device": device,
                        "seed": 0,
                        "resume": False,
                        "export": False,
                        "teacher": {
                            "type": "train",
                            "name": "teacher",
                            "training": training(epochs, batch, precision, shift=2, compile=compiled),
                            "model": {
                                "type": "mlp",
                                "hidden": [1200, 1200],
                                "activation": "relu",
                                "dropout": 0.5,
                                "inputDropout": 0.2,
                            },
                        },
                    },
                )
                student = api.call(
                    "distill",
                    {
                        "data": data,
                        "outDir": out_dir,
                        "device": device,
                        "seed": 1,
                        "resume": False,
                        "export": False,
                        "teacher": teacher["checkpoint"],
                        "student": {
                            "name": "student",
                            "model": {
                                "type": "mlp",
                                "hidden": [800, 800],
                                "activation": "relu",
                                "dropout": 0,
                                "inputDropout": 0,
                            },
                            "method": {
                                "type": "soft-targets",
                                "temperature": 20,
                                "alpha": 0.9,
                                "standardizeLogits": False,
                            },
                            "training": training(epochs, batch, precision, compile=compiled),
                        },
                    },
                )
                for role, result in (("teacher 2x1200", teacher), ("student 2x800", student)):
                    entry = {
                        "device": device,
                        "batchSize": batch,
                        "mixedPrecision": precision,
                        "compile": compiled,
                        "model": role,
                        "epochs": epochs,
                        "samplesPerSecond": rate(result["history"]),
                        "testAccuracy": result["metrics"].get("testAccuracy"),
                        "flopsPerSample": result["flopsPerSample"],
                        "history": result["history"],
                    }
                    entry["trainGflops"] = 3 * entry["flopsPerSample"] * entry["samplesPerSecond"] / 1e9
                    entry["rooflineFraction"] = roofline_fraction(entry, peaks)
                    results.append(entry)
                    rows.append(
                        [
                            device,
                            batch,
                            precision + (" +compile" if compiled else ""),
                            role,
                            f"{entry['samplesPerSecond']:,.0f}",
                            f"{entry['trainGflops']:.1f}",
                            fraction_text(entry["rooflineFraction"]),
                            f"{100 * (entry['testAccuracy'] or 0):.2f}%",
                        ]
                    )
                print(
                    f"{device} batch {batch} {precision} compile={compiled}: teacher {rate(teacher['history']):,.0f}, student {rate(student['history']):,.0f} samples/s "
                    f"({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )

    # bf16 speed-up, side by side
    speedups = []
    for entry in results:
        if entry["mixedPrecision"] == "bf16":
            off = next(
                e
                for e in results
                if e["mixedPrecision"] == "off"
                and e["device"] == entry["device"]
                and e["compile"] == entry["compile"]
                and e["batchSize"] == entry["batchSize"]
                and e["model"] == entry["model"]
            )
            speedups.append(
                {
                    "device": entry["device"],
                    "batchSize": entry["batchSize"],
                    "model": entry["model"],
                    "compile": entry["compile"],
                    "bf16OverOff": entry["samplesPerSecond"] / off["samplesPerSecond"],
                }
            )
    resnet = (
        resnet_runs(api, torch, args, out_dir, training, peaks)
        if torch.cuda.is_available() and args.resnet_epochs > 0
        else []
    )
    widths = [6, 6, 14, 14, 14, 10, 18, 9]
    header = ["device", "batch", "amp", "model", "samples/s", "GFLOP/s", "of roofline", "test acc"]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(
        f"\nTraining throughput, MNIST 8000 train / 2000 test from {path}; median epoch after the first; "
        f"GPU: {gpu}; torch {torch.__version__}; CPU threads {torch.get_num_threads()}"
    )
    print("\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]))
    print(
        "\nbf16 autocast over off: "
        + "; ".join(f"{s['device']} b={s['batchSize']} {s['model']}: {s['bf16OverOff']:.2f}x" for s in speedups)
    )
    print(
        "note: training.mixedPrecision 'bf16' autocasts on CUDA and on the CPU (emulated, slower, on CPUs without AVX-512 BF16 / AMX)."
    )
    for entry in resnet:
        print(
            f"resnet8x4 32x32 batch {entry['batchSize']} {entry['variant']}: {entry['samplesPerSecond']:,.0f} images/s, "
            f"{fraction_text(entry['rooflineFraction'])} of the roofline"
        )
    print("\ngoals (H200):")
    for goal in goals(results, resnet):
        print(f"  {'met' if goal['met'] else 'NOT met'}: {goal['what']} — measured {goal['measured']}")
    out = os.environ.get("OUT") or os.path.join(HERE, "out")
    os.makedirs(out, exist_ok=True)
    file = os.path.join(out, "cuda.json")
    with open(file, "w", encoding="utf8") as handle:
        json.dump(
            {
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv),
                "gpu": gpu,
                "torch": torch.__version__,
                "cpuThreads": torch.get_num_threads(),
                "cpu": platform.processor(),
                "cores": os.cpu_count(),
                "data": path,
                "roofline": peaks,
                "results": results,
                "bf16Speedups": speedups,
                "resnet": resnet,
                "goals": goals(results, resnet),
                "wallSeconds": time.perf_counter() - started,
            },
            handle,
            indent=2,
        )
    print(f"wrote {file}")
    return 0


def roofline(torch) -> dict[str, float]:
    """Measured matmul GFLOP/s (2·n³ per product): fp32 (TF32 off), TF32 and bf16 on CUDA (n 8192); fp32 on the CPU (n 2048)."""

    def measure(device: str, dtype, n: int, repeats: int) -> float:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(2):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9

    peaks = {"cpuFp32": measure("cpu", torch.float32, 2048, 3)}
    if torch.cuda.is_available():
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        peaks["cudaFp32"] = measure("cuda", torch.float32, 8192, 20)
        torch.backends.cuda.matmul.allow_tf32 = True
        peaks["cudaTf32"] = measure("cuda", torch.float32, 8192, 20)
        torch.backends.cuda.matmul.allow_tf32 = previous
        peaks["cudaBf16"] = measure("cuda", torch.bfloat16, 8192, 20)
    return peaks


def roofline_fraction(entry: dict, peaks: dict) -> dict[str, float]:
    """The run's training FLOP/s over the roofline of its precision (fp32 runs: over fp32 and over TF32)."""
    gflops = entry["trainGflops"]
    if entry["device"] == "cpu":
        return {"fp32": gflops / peaks["cpuFp32"]}
    if entry["mixedPrecision"] == "bf16":
        return {"bf16": gflops / peaks["cudaBf16"]}
    return {"fp32": gflops / peaks["cudaFp32"], "tf32": gflops / peaks["cudaTf32"]}


def fraction_text(fractions: dict[str, float]) -> str:
    return ", ".join(f"{100 * value:.1f}% {name}" for name, value in fractions.items())


def resnet_runs(api, torch, args, out_dir: str, training, peaks: dict) -> list[dict]:
    """resnet8x4 on synthetic 32x32 colour images (20,000 train / 2,000 test), data resident on the GPU."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(22000, 3, 32, 32), dtype=np.uint8)
    y = (x[:, :, 8:24, 8:24].mean(axis=(1, 2, 3)) > 127.5).astype(np.int64) + 2 * (x[:, 0].mean(axis=(1, 2)) > 127.5)
    path = os.path.join(out_dir, "images32.npz")
    np.savez(path, x=x, y=y)

    def source(offset: int, limit: int) -> dict:
        return {
            "type": "file",
            "path": path,
            "x": "x",
            "y": "y",
            "offset": offset,
            "limit": limit,
            "labelled": True,
        }

    data = {
        "task": "classification",
        "train": source(0, 20000),
        "test": source(20000, 2000),
        "normalize": "standard",
        "numClasses": 10,
        "preprocess": None,
    }
    entries = []
    for batch in (128, 512):
        for variant, precision, channels_last, compiled in (
            ("fp32", "off", False, False),
            ("bf16", "bf16", False, False),
            ("bf16 channels-last", "bf16", True, False),
            ("bf16 channels-last compile", "bf16", True, True),
        ):
            result = api.call(
                "train_teacher",
                {
                    "data": data,
                    "outDir": out_dir,
                    "device": "cuda",
                    "seed": 0,
                    "resume": False,
                    "export": False,
                    "teacher": {
                        "type": "train",
                        "name": "resnet8x4",
                        "model": {"type": "resnet", "channels": [16, 32, 64], "depth": 8, "widen": 4},
                        "training": training(
                            args.resnet_epochs, batch, precision, compile=compiled, channels_last=channels_last
                        ),
                    },
                },
            )
            timed = result["history"][1:] if len(result["history"]) > 1 else result["history"]
            rate = statistics.median(h["samplesPerSecond"] for h in timed)
            entry = {
                "model": "resnet8x4",
                "batchSize": batch,
                "variant": variant,
                "samplesPerSecond": rate,
                "flopsPerSample": result["flopsPerSample"],
                "trainGflops": 3 * result["flopsPerSample"] * rate / 1e9,
                "device": "cuda",
                "mixedPrecision": precision,
                "history": result["history"],
            }
            entry["rooflineFraction"] = roofline_fraction(entry, peaks)
            entries.append(entry)
            print(f"resnet8x4 batch {batch} {variant}: {rate:,.0f} images/s", file=sys.stderr, flush=True)
    return entries


def goals(results: list[dict], resnet: list[dict]) -> list[dict]:
    """The issue's H200 goals, each with the best measured figure (empty without CUDA)."""
    cuda = [e for e in results if e["device"] == "cuda" and e["model"].startswith("teacher")]
    out = []
    small = [e for e in cuda if e["batchSize"] == 128]
    if small:
        best = max(small, key=lambda e: e["samplesPerSecond"])
        out.append(
            {
                "what": "2x1200 teacher, batch 128, >= 400k samples/s",
                "met": best["samplesPerSecond"] >= 400_000,
                "measured": f"{best['samplesPerSecond']:,.0f} samples/s ({best['mixedPrecision']}, compile={best['compile']})",
            }
        )
    large = [e for e in cuda if e["batchSize"] == 4096]
    if large:
        best = max(large, key=lambda e: max(e["rooflineFraction"].values()))
        fraction = max(best["rooflineFraction"].values())
        out.append(
            {
                "what": "2x1200 teacher, batch 4096, >= 50 % of the TF32/bf16 matmul roofline",
                "met": fraction >= 0.5,
                "measured": f"{fraction_text(best['rooflineFraction'])} ({best['mixedPrecision']}, compile={best['compile']})",
            }
        )
    if resnet:
        best = max(resnet, key=lambda e: e["samplesPerSecond"])
        out.append(
            {
                "what": "resnet8x4 on 32x32, >= 30k images/s",
                "met": best["samplesPerSecond"] >= 30_000,
                "measured": f"{best['samplesPerSecond']:,.0f} images/s (batch {best['batchSize']}, {best['variant']})",
            }
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
