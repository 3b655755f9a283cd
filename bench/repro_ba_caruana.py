"""Ba & Caruana 2014 ("Do deep nets really need to be deep?") on the embedded MNIST digits.

    node scripts/python.js bench/repro_ba_caruana.py

One shared teacher (the demo's 2x1200, see common.ensure_embedded_teacher). Students, all with Adam 1e-3 +
cosine, the same epochs and seeds:
  * mimic-bottleneck: one hidden layer of 2000 ReLUs behind a linear bottleneck of 100, logit regression (L2 on logits)
  * mimic-wide:       the same one-hidden-layer net without the bottleneck, logit regression
  * shallow-labels:   the bottleneck net trained on the labels (cross-entropy), no teacher
  * wide-labels:      the 2000-unit net without bottleneck trained on the labels
  * deep-labels:      a deeper net of about the bottleneck net's parameter count (2x280), trained on the labels
  * deep-mimic:       the same deeper net, logit regression
Reports test errors, parameters, and test accuracy per epoch (the bottleneck's effect on convergence).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

MIMIC = {"type": "logit-regression"}
LABELS = {"type": "hard-labels"}
STUDENTS = [
    ("mimic-bottleneck", common.mlp([2000], bottleneck=100), MIMIC),
    ("mimic-wide", common.mlp([2000]), MIMIC),
    ("shallow-labels", common.mlp([2000], bottleneck=100), LABELS),
    ("wide-labels", common.mlp([2000]), LABELS),
    ("deep-labels", common.mlp([280, 280]), LABELS),
    ("deep-mimic", common.mlp([280, 280]), MIMIC),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--teacher", help="teacher checkpoint (default: the shared embedded teacher, trained if missing)"
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from distillery import api

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    teacher = common.ensure_embedded_teacher(path=args.teacher)
    data = common.embedded_data()
    logits, labels = api.predict(teacher, data, "test", device="cpu")
    teacher_errors = int((logits.argmax(1) != labels).sum())
    seeds = [int(s) for s in args.seeds.split(",")]
    train = common.training(args.epochs, {"type": "adam", "lr": 1e-3})
    results: dict[str, list[dict]] = {name: [] for name, _, _ in STUDENTS}
    params: dict[str, int] = {}
    for seed in seeds:
        out_dir = os.path.join(common.OUT, "ba-caruana", f"seed-{seed}")
        for index, (name, model, method) in enumerate(STUDENTS):
            result = api.call(
                "distill",
                common.distill_request(
                    data,
                    out_dir,
                    common.student_spec(name, model, method, train),
                    teacher=teacher,
                    seed=seed + 1000 * (index + 1),
                ),
                common.progress(f"seed {seed} "),
            )
            params[name] = result["params"]
            results[name].append(
                {
                    "seed": seed,
                    "errors": result["metrics"]["testErrors"],
                    "agreement": result["metrics"].get("testAgreement"),
                    "curve": [h["testAccuracy"] for h in result["history"]],
                    "seconds": result["trainSeconds"],
                }
            )

    def epochs_to(curve: list[float], target: float) -> int | None:
        return next((i + 1 for i, acc in enumerate(curve) if acc >= target), None)

    # convergence: the first epoch at which the mean test accuracy reaches 97% of the teacher's
    rows, summary = [], {}
    mean_curve = lambda runs: [sum(r["curve"][e] for r in runs) / len(runs) for e in range(args.epochs)]  # noqa: E731
    target = 0.97 * (1 - teacher_errors / 2000)
    for name, model, method in STUDENTS:
        runs = results[name]
        mean, sd = common.mean_std([float(r["errors"]) for r in runs])
        curve = mean_curve(runs)
        summary[name] = {
            "model": model,
            "method": method["type"],
            "params": params[name],
            "errorsMean": mean,
            "errorsSd": sd,
            "meanCurve": curve,
            "epochsToTarget": epochs_to(curve, target),
            "runs": runs,
        }
        rows.append(
            [
                name,
                model["hidden"],
                model.get("bottleneck", "-"),
                method["type"],
                f"{params[name]:,}",
                f"{mean:.1f} ± {sd:.1f}",
                f"{100 * curve[0]:.2f}%",
                f"{100 * curve[min(2, args.epochs - 1)]:.2f}%",
                f"{100 * curve[min(4, args.epochs - 1)]:.2f}%",
                summary[name]["epochsToTarget"] or f">{args.epochs}",
            ]
        )
    print(
        f"\nBa & Caruana on the embedded MNIST (2000 test digits); teacher {teacher_errors} errors; {args.epochs} epochs, Adam 1e-3 cosine, "
        f"seeds {seeds}; accuracy = mean test accuracy after epoch 1/3/5; target {100 * target:.2f}%"
    )
    print(
        common.table(
            rows,
            [
                "student",
                "hidden",
                "bottleneck",
                "trained on",
                "params",
                "test errors",
                "acc@1",
                "acc@3",
                "acc@5",
                "epochs to target",
            ],
        )
    )
    common.write_json(
        "repro_ba_caruana.json",
        {
            "teacherCheckpoint": teacher,
            "teacherErrors": teacher_errors,
            "epochs": args.epochs,
            "seeds": seeds,
            "target": target,
            "students": summary,
            "wallSeconds": time.perf_counter() - started,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
