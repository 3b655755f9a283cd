"""Semi-supervised distillation (issue 8): a labelled set too small for a good student, plus an unlabelled
transfer set that the teacher labels softly. How does the student's accuracy grow with the unlabelled set?

    node scripts/python.js bench/semi_supervised.py [--seeds 0,1,2] [--labelled 1000]

The teacher (2x800, dropout, 2 px jitter) and the baseline student (1x300, labels only) see only the first
`--labelled` digits of the embedded training split, with labels. Distilled students (same 1x300) learn
soft-targets at T=4 on the labelled digits plus U more digits whose labels are dropped (labelled: false),
U in {0, 1000, 3000, 7000}. Test: the fixed 2,000 held-out digits.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (
    OUT,
    distill_request,
    embedded_data,
    mean_std,
    mlp,
    mnist_source,
    progress,
    sgd,
    table,
    train_teacher_request,
    training,
    write_json,
)
from distillery import api

UNLABELLED = [0, 1000, 3000, 7000]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--labelled", type=int, default=1000)
    parser.add_argument(
        "--epochs",
        type=int,
        default=60,
        help="teacher and labels-only student; distilled students get "
        "about as many steps (at least a quarter of these epochs)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    labelled = args.labelled
    results: dict[str, dict[int, int]] = {}
    teacher_errors = {}
    for seed in seeds:
        out_dir = os.path.join(OUT, "semi-supervised", f"seed{seed}")
        data = embedded_data(train=mnist_source("train", limit=labelled))
        teacher = api.call(
            "train_teacher",
            train_teacher_request(
                data,
                out_dir,
                {
                    "type": "train",
                    "name": "teacher",
                    "model": mlp([800, 800], dropout=0.5, inputDropout=0.2),
                    "training": training(args.epochs, sgd(0.05), shift=2),
                },
                seed=seed,
            ),
            progress(f"seed {seed} "),
        )
        teacher_errors[seed] = teacher["metrics"]["testErrors"]
        baseline = api.call(
            "distill",
            distill_request(
                data,
                out_dir,
                {
                    "name": "labels-only",
                    "model": mlp([300]),
                    "method": {"type": "hard-labels"},
                    "training": training(args.epochs, sgd(0.05)),
                },
                seed=seed + 100,
            ),
            progress(f"seed {seed} "),
        )
        results.setdefault("labels only", {})[seed] = baseline["metrics"]["testErrors"]
        for unlabelled in UNLABELLED:
            transfer = mnist_source("train", limit=labelled + unlabelled, labelled=False)
            epochs = max(
                1, args.epochs // 4, int(args.epochs * labelled / (labelled + unlabelled))
            )  # about the same number of steps each
            student = api.call(
                "distill",
                distill_request(
                    {**data, "transfer": transfer},
                    out_dir,
                    {
                        "name": f"soft-u{unlabelled}",
                        "model": mlp([300]),
                        "method": {"type": "soft-targets", "temperature": 4, "alpha": 0.9},
                        "training": training(epochs, sgd(0.05)),
                    },
                    teacher=teacher["checkpoint"],
                    seed=seed + 100,
                ),
                progress(f"seed {seed} "),
            )
            results.setdefault(f"soft targets, {labelled} labelled + {unlabelled} unlabelled", {})[seed] = student[
                "metrics"
            ]["testErrors"]

    rows = [
        [
            "teacher (2x800)",
            *(teacher_errors[s] for s in seeds),
            "{:.1f} ± {:.1f}".format(*mean_std([teacher_errors[s] for s in seeds])),
        ]
    ]
    for name, by_seed in results.items():
        values = [by_seed[s] for s in seeds]
        rows.append([name, *values, "{:.1f} ± {:.1f}".format(*mean_std(values))])
    print(table(rows, ["model (test errors of 2000)", *(f"seed {s}" for s in seeds), "mean ± sd"]))
    write_json(
        "semi_supervised.json",
        {
            "labelled": labelled,
            "unlabelled": UNLABELLED,
            "seeds": seeds,
            "teacherErrors": teacher_errors,
            "studentErrors": results,
        },
    )


if __name__ == "__main__":
    main()
