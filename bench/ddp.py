#!/usr/bin/env python3
"""Distributed training, 1 rank vs N ranks: samples/s and equivalence of the weights.

The same complete run_experiment request (a teacher and one student on 8000 / 2000 synthetic 784-feature rows of
10 classes, or an .npz given with --data; training.batchSize the global batch) runs through ``python -m distillery run_experiment REQUEST --nproc-per-node R --jsonl`` — torchrun,
DDP — with R = 1 and R = N, fresh processes each. Reported per R: the teacher's samples/s (median epoch after the
first), the wall time of the whole command, and the largest |difference| between the R-rank and the 1-rank
teacher's and student's weights (the same data order: they must match to float rounding).

    node scripts/python.js bench/ddp.py                       # CPU, gloo: 1 vs 2 ranks (the cores are shared out)
    python3 bench/ddp.py --device cuda --ranks 2              # GPUs, nccl: one GPU per rank (GPU machine, no Node)

On the CPU each rank gets cores / R torch threads (the launcher's OMP_NUM_THREADS), so 1 vs 2 ranks compares the
same cores used by one process or two. Writes ddp.json under bench/out (or $OUT).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def request(folder: str, args: argparse.Namespace, data: dict) -> str:
    sgd = common.sgd(0.05)
    teacher_training = common.training(args.epochs, sgd, batch_size=args.batch, schedule="constant")
    student_training = common.training(max(1, args.epochs // 2), sgd, batch_size=args.batch, schedule="constant")
    value = {
        "name": "ddp-bench",
        "seed": 0,
        "device": args.device,
        "data": data,
        "teacher": {
            "type": "train",
            "name": "teacher",
            "model": common.mlp([int(w) for w in args.hidden.split(",")]),
            "training": teacher_training,
        },
        "students": [
            common.student_spec(
                "student",
                common.mlp([64]),
                {"type": "soft-targets", "temperature": 4, "alpha": 0.7, "standardizeLogits": False},
                student_training,
            )
        ],
        "export": common.EXPORT,
        "evaluate": {"topK": 5, "calibrationBins": 15, "benchmark": False},
        "outDir": os.path.join(folder, "out"),
        "resume": False,
    }
    path = os.path.join(folder, "request.json")
    with open(path, "w", encoding="utf8") as handle:
        json.dump(value, handle)
    return path


def synthetic(folder: str) -> str:
    """10,000 rows of 784 features whose class (of 10) is a fixed random linear function of them: learnable, no download."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10000, 784)).astype(np.float32)
    y = (x @ rng.normal(size=(784, 10))).argmax(axis=1)
    path = os.path.join(folder, "synthetic.npz")
    np.savez(path, x=x, y=y)
    return path


def weights(out_dir: str, name: str) -> dict:
    import torch

    return torch.load(os.path.join(out_dir, "checkpoints", f"{name}.pt"), weights_only=True)["state"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--ranks", type=int, default=2, help="N, compared with 1 rank")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--hidden", default="1200,1200", help="the teacher MLP's widths")
    parser.add_argument(
        "--data", help="an .npz with x, y: its first 8000 rows train, the next 2000 test (default: synthetic)"
    )
    args = parser.parse_args()

    path = args.data or synthetic(tempfile.mkdtemp(prefix="distillery-ddp-data-"))
    data = {
        "task": "classification",
        "train": common.file_source(path, limit=8000),
        "test": common.file_source(path, offset=8000, limit=2000),
        "normalize": "standard",
        "preprocess": None,
    }
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.path.join(common.ROOT, "python"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("OMP_NUM_THREADS", None)  # the launcher shares the cores out among its ranks
    runs = {}
    for ranks in (1, args.ranks):
        folder = tempfile.mkdtemp(prefix=f"distillery-ddp-{ranks}-")
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "distillery",
                "run_experiment",
                request(folder, args, data),
                "--nproc-per-node",
                str(ranks),
                "--jsonl",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        envelope = json.loads(done.stdout.strip().splitlines()[-1])
        if not envelope["ok"]:
            print(done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{ranks} ranks failed: {envelope['error']['message']}")
        history = envelope["result"]["teacher"]["history"]
        timed = history[1:] if len(history) > 1 else history
        runs[ranks] = {
            "ranks": ranks,
            "folder": folder,
            "wallSeconds": wall,
            "distributed": envelope["result"]["distributed"],
            "teacherSamplesPerSecond": statistics.median(h["samplesPerSecond"] for h in timed),
            "teacherTestAccuracy": envelope["result"]["teacher"]["metrics"].get("testAccuracy"),
            "studentTestAccuracy": envelope["result"]["students"][0]["metrics"].get("testAccuracy"),
        }
        print(
            f"{ranks} rank(s): {runs[ranks]['teacherSamplesPerSecond']:,.0f} samples/s, {wall:.1f} s wall",
            file=sys.stderr,
            flush=True,
        )
    one, many = runs[1], runs[args.ranks]
    for name in ("teacher", "student"):
        a, b = weights(os.path.join(one["folder"], "out"), name), weights(os.path.join(many["folder"], "out"), name)
        many[f"{name}MaxAbsDiff"] = max(float((a[key] - b[key]).abs().max()) for key in a)
    many["scaling"] = many["teacherSamplesPerSecond"] / one["teacherSamplesPerSecond"]
    rows = [
        [
            r["ranks"],
            r["distributed"]["backend"],
            f"{r['teacherSamplesPerSecond']:,.0f}",
            f"{r['wallSeconds']:.1f}",
            f"{100 * (r['teacherTestAccuracy'] or 0):.2f}%",
            f"{r.get('teacherMaxAbsDiff', 0):.2e}",
            f"{r.get('studentMaxAbsDiff', 0):.2e}",
        ]
        for r in runs.values()
    ]
    print(
        f"\nDDP on {args.device}: teacher mlp {args.hidden}, global batch {args.batch}, {args.epochs} epochs; "
        f"scaling {many['scaling']:.2f}x with {args.ranks} ranks"
    )
    print(
        common.table(
            rows, ["ranks", "backend", "samples/s", "wall s", "teacher acc", "teacher max|Δw|", "student max|Δw|"]
        )
    )
    out = os.environ.get("OUT")
    if out:
        os.environ["BENCH_OUT"] = out
        common.OUT = out
    common.write_json(
        "ddp.json",
        {
            "device": args.device,
            "batch": args.batch,
            "epochs": args.epochs,
            "hidden": args.hidden,
            "runs": list(runs.values()),
            "scaling": many["scaling"],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
