#!/usr/bin/env python3
"""bf16 autocast on the CPU (training.mixedPrecision 'bf16'): speed and accuracy against fp32, side by side.

1. torch.mm, n x n, fp32 vs bf16, GFLOP/s on this CPU (native bf16 needs AVX-512 BF16 or AMX; without them torch
   emulates it). 2. A teacher (MLP 784-512-10, fp32) trained once on the embedded MNIST (8000 / 2000); then a student
(784-256-10) distilled from it with soft targets at T = 20 (the case that suffered under bf16 on CUDA), fp32 and bf16
alternating, --seeds of each: samples/s (median epoch after the first) and test errors. The loss is fp32 either way.

    node scripts/python.js bench/cpu_bf16.py [--threads 1] [--epochs 4] [--seeds 0,1]

Writes cpu_bf16.json under bench/out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return sorted(
                        flag
                        for flag in line.split(":", 1)[1].split()
                        if "bf16" in flag or flag.startswith("amx") or flag == "avx512f"
                    )
    except OSError:
        pass
    return []


def mm_gflops(torch, dtype, n: int = 1024, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    import torch

    from distillery import api

    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    mm = {"fp32": mm_gflops(torch, torch.float32), "bf16": mm_gflops(torch, torch.bfloat16)}
    print(
        f"cpu flags: {flags or 'no avx512f / bf16 / amx'}; torch.mm 1024²: fp32 {mm['fp32']:.1f}, bf16 {mm['bf16']:.1f} GFLOP/s",
        file=sys.stderr,
        flush=True,
    )
    folder = tempfile.mkdtemp(prefix="distillery-cpu-bf16-")
    data = common.embedded_data()
    adam = {"type": "adam", "lr": 0.001}
    teacher = api.call(
        "train_teacher",
        common.train_teacher_request(
            data,
            folder,
            {
                "type": "train",
                "name": "teacher",
                "model": common.mlp([512]),
                "training": common.training(args.epochs, adam),
            },
        ),
    )
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for precision in ("off", "bf16"):
            student = common.student_spec(
                f"s-{precision}-{seed}",
                common.mlp([256]),
                {"type": "soft-targets", "temperature": 20, "alpha": 0.9, "standardizeLogits": False},
                common.training(args.epochs, adam, mixed_precision=precision),
            )
            result = api.call(
                "distill", common.distill_request(data, folder, student, teacher=teacher["checkpoint"], seed=seed)
            )
            timed = result["history"][1:] or result["history"]
            runs.append(
                {
                    "seed": seed,
                    "mixedPrecision": precision,
                    "samplesPerSecond": statistics.median(h["samplesPerSecond"] for h in timed),
                    "testErrors": result["metrics"]["testErrors"],
                    "testAccuracy": result["metrics"]["testAccuracy"],
                }
            )
            print(
                f"seed {seed} {precision}: {runs[-1]['samplesPerSecond']:,.0f} samples/s, {runs[-1]['testErrors']} test errors",
                file=sys.stderr,
                flush=True,
            )
    summary = {}
    for precision in ("off", "bf16"):
        mine = [r for r in runs if r["mixedPrecision"] == precision]
        summary[precision] = {
            "samplesPerSecond": statistics.median(r["samplesPerSecond"] for r in mine),
            "meanTestErrors": statistics.mean(r["testErrors"] for r in mine),
        }
    speedup = summary["bf16"]["samplesPerSecond"] / summary["off"]["samplesPerSecond"]
    print(
        common.table(
            [[p, f"{v['samplesPerSecond']:,.0f}", f"{v['meanTestErrors']:.1f}"] for p, v in summary.items()],
            ["precision", "samples/s", "test errors (of 2000)"],
        )
    )
    print(
        f"bf16 / fp32 samples/s: {speedup:.2f}x; torch.mm bf16 / fp32: {mm['bf16'] / mm['fp32']:.2f}x; teacher {teacher['metrics']['testErrors']} errors"
    )
    common.write_json(
        "cpu_bf16.json",
        {
            "threads": args.threads,
            "epochs": args.epochs,
            "cpuFlags": flags,
            "mmGflops": mm,
            "runs": runs,
            "summary": summary,
            "speedup": speedup,
            "teacherTestErrors": teacher["metrics"]["testErrors"],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
