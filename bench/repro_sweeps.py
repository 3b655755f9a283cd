"""Temperature and alpha sweeps (Hinton et al. 2015) on the embedded MNIST digits, one shared teacher.

    node scripts/python.js bench/repro_sweeps.py

Students: a large one (2x300 ReLU) and a small one (2x30), SGD lr 0.01 Nesterov + cosine (0.05, the demo's,
makes T=20 soft targets unstable on 60k digits; one lr for every run keeps the comparison clean), trained on labels (baseline) and distilled with soft targets at T in {1, 2, 4, 8, 20} (alpha 0.9),
plus alpha in {0.5, 1.0} at T = 4 and T = 20. One Python process: the teacher's outputs over the transfer
set are computed once and reused by every run. Paper: with >= 300 units per layer every T above 8 does about
as well; with 30 units, T of 2.5-4 works best.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

SIZES = {"large-2x300": [300, 300], "small-2x30": [30, 30]}
TEMPERATURES = [1, 2, 4, 8, 20]


def methods() -> list[tuple[str, dict]]:
    runs = [("labels", {"type": "hard-labels"})]
    runs += [(f"T={t} a=0.9", {"type": "soft-targets", "temperature": t, "alpha": 0.9}) for t in TEMPERATURES]
    runs += [
        (f"T={t} a={a}", {"type": "soft-targets", "temperature": t, "alpha": a}) for t in (4, 20) for a in (0.5, 1.0)
    ]
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--teacher", help="teacher checkpoint (default: the shared embedded teacher, trained if missing)"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()

    import torch

    from distillery import api

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    teacher = common.ensure_embedded_teacher(path=args.teacher)
    data = common.embedded_data()
    seeds = [int(s) for s in args.seeds.split(",")]
    parser_lr = args.lr
    train = common.training(args.epochs, common.sgd(parser_lr))
    out_dir = os.path.join(common.OUT, "sweeps")
    grid: dict[str, dict[str, list[int]]] = {size: {} for size in SIZES}
    for size, hidden in SIZES.items():
        for label, method in methods():
            for seed in seeds:
                result = api.call(
                    "distill",
                    common.distill_request(
                        data,
                        out_dir,
                        common.student_spec("sweep", common.mlp(hidden), method, train),
                        teacher=teacher,
                        seed=seed,
                    ),
                )
                grid[size].setdefault(label, []).append(result["metrics"]["testErrors"])
            print(
                f"{size} {label}: {grid[size][label]} errors ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    labels = [label for label, _ in methods()]
    rows = []
    summary: dict[str, dict[str, dict]] = {}
    for label in labels:
        row = [label]
        for size in SIZES:
            mean, sd = common.mean_std([float(e) for e in grid[size][label]])
            summary.setdefault(size, {})[label] = {"errors": grid[size][label], "mean": mean, "sd": sd}
            row.append(f"{mean:.1f} ± {sd:.1f}")
        rows.append(row)
    print(
        f"\nT / alpha sweep on the embedded MNIST (2000 test digits), {args.epochs} epochs, SGD lr {args.lr:g}, seeds {seeds}: test errors mean ± sd"
    )
    print(common.table(rows, ["method", *SIZES]))
    common.write_json(
        "repro_sweeps.json",
        {
            "teacherCheckpoint": teacher,
            "epochs": args.epochs,
            "lr": args.lr,
            "seeds": seeds,
            "sizes": SIZES,
            "results": summary,
            "wallSeconds": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
