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
from common import OUT, embedded_data, mean_std, mlp, mnist_source, progress, sgd, table, training, write_json  # noqa: E402

from distillery import api  # noqa: E402

UNLABELLED = [0, 1000, 3000, 7000]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--labelled", type=int, default=1000)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    labelled = args.labelled
    results: dict[str, dict[int, int]] = {}
    teacher_errors = {}
    for seed in seeds:
        out_dir = os.path.join(OUT, "semi-supervised", f"seed{seed}")
        data = embedded_data(train=mnist_source("train", limit=labelled))
        teacher = api.train_teacher({"data": data, "outDir": out_dir, "device": "cpu", "seed": seed, "teacher": {
            "type": "train", "name": "teacher", "model": mlp([800, 800], dropout=0.5, inputDropout=0.2),
            "training": training(60, sgd(0.05), shift=2)}}, progress(f"seed {seed} "))
        teacher_errors[seed] = teacher["metrics"]["testErrors"]
        baseline = api.distill({"data": data, "outDir": out_dir, "device": "cpu", "seed": seed + 100, "student": {
            "name": "labels-only", "model": mlp([300]), "method": {"type": "hard-labels"}, "training": training(60, sgd(0.05))}},
            progress(f"seed {seed} "))
        results.setdefault("labels only", {})[seed] = baseline["metrics"]["testErrors"]
        for unlabelled in UNLABELLED:
            transfer = mnist_source("train", limit=labelled + unlabelled, labelled=False)
            epochs = max(15, int(60 * labelled / (labelled + unlabelled)))  # about the same number of steps each
            student = api.distill({"data": {**data, "transfer": transfer}, "outDir": out_dir, "device": "cpu", "seed": seed + 100,
                                   "teacherCheckpoint": teacher["checkpoint"], "student": {
                                       "name": f"soft-u{unlabelled}", "model": mlp([300]), "method": {"type": "soft-targets", "temperature": 4, "alpha": 0.9},
                                       "training": training(epochs, sgd(0.05))}}, progress(f"seed {seed} "))
            results.setdefault(f"soft targets, {labelled} labelled + {unlabelled} unlabelled", {})[seed] = student["metrics"]["testErrors"]

    rows = [["teacher (2x800)", *(teacher_errors[s] for s in seeds), "%.1f ± %.1f" % mean_std([teacher_errors[s] for s in seeds])]]
    for name, by_seed in results.items():
        values = [by_seed[s] for s in seeds]
        rows.append([name, *values, "%.1f ± %.1f" % mean_std(values)])
    print(table(rows, ["model (test errors of 2000)", *(f"seed {s}" for s in seeds), "mean ± sd"]))
    write_json("semi_supervised.json", {"labelled": labelled, "unlabelled": UNLABELLED, "seeds": seeds, "teacherErrors": teacher_errors, "studentErrors": results})


if __name__ == "__main__":
    main()
