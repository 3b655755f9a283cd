"""Hinton, Vinyals & Dean 2015, MNIST: teacher 2x1200 ReLU + dropout (inputs jittered by up to 2 px),
student 2x800 without regularisation trained on labels (hard-labels) vs distilled at T=20 (soft-targets).

    node scripts/python.js bench/repro_hinton.py --scale full      # 60k/10k from ../shared/data/mnist
    node scripts/python.js bench/repro_hinton.py --scale embedded  # the demo's 8k/2k embedded digits

Paper (60k/10k, trained far longer): teacher 67, hard-labels 146, distilled 74 test errors — distillation
closes (146-74)/(146-67) = 91% of the baseline-to-teacher gap. Prints a table, writes
bench/out/repro_hinton_<scale>.json; checkpoints go to bench/out/hinton-<scale>/seed-<n>/.
A killed run continues from its last finished epoch when started again (the engine's resume).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

SETTINGS = {
    # The default full-scale schedule: a 60-epoch teacher (the budget: under half an hour per seed on this
    # CPU), 30-epoch students. The teacher's lr was chosen by bench/hinton_recipe.py on a validation split
    # (train[50k:]), never on the test set.
    "full": {
        "data": common.full_data,
        "teacher_epochs": 60,
        "student_epochs": 30,
        "teacher_lr": 0.05,
        "teacher_dropout": 0.3,
        "teacher_input_dropout": 0.0,
    },
    # the demo's schedule (examples/demo.json)
    "embedded": {
        "data": common.embedded_data,
        "teacher_epochs": 30,
        "student_epochs": 20,
        "teacher_lr": 0.05,
        "teacher_dropout": 0.5,
        "teacher_input_dropout": 0.2,
    },
}

# The students of every seed: (name, method, jitter). "jitter" trains on 2-px shifted digits; with a teacher that
# means the teacher runs online on the very same shifted batch (consistent distillation, Beyer et al. 2022).
PAPER_STUDENTS = ["hard-labels", "soft-t20"]
CONSISTENT_STUDENTS = ["soft-t20-jitter", "hard-labels-jitter"]


def student_method(name: str, args: argparse.Namespace) -> dict:
    if name.startswith("hard-labels"):
        return {"type": "hard-labels"}
    return {"type": "soft-targets", "temperature": args.temperature, "alpha": args.alpha, "standardizeLogits": False}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SETTINGS), default="embedded")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--teacher-epochs", type=int)
    parser.add_argument("--teacher-lr", type=float, help="SGD (Nesterov) lr of the teacher, cosine-annealed")
    parser.add_argument("--teacher-dropout", type=float, help="the teacher's dropout after each hidden layer")
    parser.add_argument("--teacher-input-dropout", type=float, help="the teacher's dropout on the inputs")
    parser.add_argument("--student-epochs", type=int)
    parser.add_argument("--temperature", type=float, default=20.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument(
        "--soft-lr",
        type=float,
        default=0.01,
        help="the soft-target student's learning rate (with SGD, 0.05 is unstable at T=20 on 60k digits without --clip)",
    )
    parser.add_argument(
        "--soft-optimizer",
        choices=["sgd", "adam"],
        default="sgd",
        help="the soft-target students' optimizer at --soft-lr (sgd: Nesterov, momentum 0.9)",
    )
    parser.add_argument(
        "--labels-optimizer", choices=["sgd", "adam"], default="sgd", help="the label-trained students' optimizer"
    )
    parser.add_argument("--labels-lr", type=float, default=0.05, help="the label-trained students' learning rate")
    parser.add_argument(
        "--consistent",
        action="store_true",
        help="also train soft-t20-jitter (the teacher online on the same 2-px shifted batch) and its control, "
        "hard-labels-jitter (the same shifts, labels only)",
    )
    parser.add_argument(
        "--tag", default="", help="suffix for the output folder and JSON (runs with other settings side by side)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (the GPU run in docs/RESULTS.md used cuda)")
    parser.add_argument(
        "--clip", type=float, help="training.clipGradNorm for every student (stabilises T=20 at lr 0.05)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: see docs/RESULTS.md on the shared 2-core machine)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="no training: join the JSONs of runs of one setting (side by side, one seed each, as the GPU script "
        "bench/device/hinton.sh does, or one after another) into one table and repro_hinton_<scale><tag>.json; "
        "runs that differ in any setting are refused",
    )
    args = parser.parse_args()
    if args.merge:
        return merge(args)

    import torch

    torch.set_num_threads(args.threads)

    from distillery import api

    setting = SETTINGS[args.scale]
    teacher_epochs = args.teacher_epochs or setting["teacher_epochs"]
    student_epochs = args.student_epochs or setting["student_epochs"]
    teacher_lr = args.teacher_lr or setting["teacher_lr"]
    teacher_dropout = setting["teacher_dropout"] if args.teacher_dropout is None else args.teacher_dropout
    teacher_input_dropout = (
        setting["teacher_input_dropout"] if args.teacher_input_dropout is None else args.teacher_input_dropout
    )
    data = setting["data"]()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = PAPER_STUDENTS + (CONSISTENT_STUDENTS if args.consistent else [])
    runs = []
    started = time.perf_counter()
    for seed in seeds:
        out_dir = os.path.join(common.OUT, f"hinton-{args.scale}{args.tag}", f"seed-{seed}")
        log = common.progress(f"seed {seed} ")
        teacher_spec = common.teacher_spec(
            teacher_epochs, common.mlp([1200, 1200], dropout=teacher_dropout, inputDropout=teacher_input_dropout)
        )
        teacher_spec["training"]["optimizer"] = common.sgd(teacher_lr)
        teacher = api.call(
            "train_teacher",
            common.train_teacher_request(data, out_dir, teacher_spec, device=args.device, seed=seed, resume=True),
            log,
        )
        row = {
            "seed": seed,
            "teacher": teacher["metrics"]["testErrors"],
            "teacherSeconds": teacher["trainSeconds"],
            "teacherCheckpoint": teacher["checkpoint"],
        }
        predictions = {"teacher": _test_predictions(api, teacher["checkpoint"], data)}
        for index, name in enumerate(names):
            method = student_method(name, args)
            soft = method["type"] == "soft-targets"
            optimizer = engine_optimizer(
                args.soft_optimizer if soft else args.labels_optimizer, args.soft_lr if soft else args.labels_lr
            )
            training = common.training(student_epochs, optimizer, shift=2 if name.endswith("-jitter") else 0)
            if args.clip:
                training["clipGradNorm"] = args.clip
            student = common.student_spec(name, common.mlp([800, 800]), method, training)
            result = api.call(
                "distill",
                common.distill_request(
                    data,
                    out_dir,
                    student,
                    teacher=teacher["checkpoint"],
                    device=args.device,
                    seed=seed + 1000 * (index + 1),
                    resume=True,
                ),
                log,
            )
            row[name] = result["metrics"]["testErrors"]
            row[f"{name}Seconds"] = result["trainSeconds"]
            row[f"{name}Agreement"] = result["metrics"].get("testAgreement")
            predictions[name] = _test_predictions(api, result["checkpoint"], data)
        labels = predictions["teacher"][1]
        for name in names[1:]:
            baseline = (
                "hard-labels-jitter" if name == "soft-t20-jitter" and "hard-labels-jitter" in names else "hard-labels"
            )
            row[f"{name}GapClosed"] = gap_closed(row["hard-labels"], row[name], row["teacher"])
            row[f"{name}VsBaseline"] = {
                "baseline": baseline,
                **mcnemar(predictions[name][0], predictions[baseline][0], labels),
            }
        if "soft-t20-jitter" in names:  # the consistent student against the labels-only paper baseline too
            row["soft-t20-jitterVsHardLabels"] = mcnemar(
                predictions["soft-t20-jitter"][0], predictions["hard-labels"][0], labels
            )
        row["gapClosed"] = row["soft-t20GapClosed"]
        runs.append(row)
        print(
            f"seed {seed}: teacher {row['teacher']}, " + ", ".join(f"{n} {row[n]}" for n in names) + " errors",
            file=sys.stderr,
            flush=True,
        )
        report(
            args,
            runs,
            names,
            teacher_epochs,
            student_epochs,
            teacher_lr,
            started,
            final=seed == seeds[-1],
            teacher_model={"dropout": teacher_dropout, "inputDropout": teacher_input_dropout},
        )
    return 0


def engine_optimizer(kind: str, lr: float) -> dict:
    """The engine's training.optimizer: SGD with Nesterov momentum (every recipe here), or Adam."""
    return common.sgd(lr) if kind == "sgd" else {"type": "adam", "lr": lr}


def merge(args: argparse.Namespace) -> int:
    parts = []
    for path in args.merge:
        with open(path, encoding="utf8") as handle:
            parts.append(json.load(handle))
    for part in parts:  # runs from before the optimizer flags trained every student with SGD
        part.setdefault("softOptimizer", "sgd")
        part.setdefault("labelsOptimizer", "sgd")
    first = parts[0]
    # a JSON from before teacherModel was recorded reads as None: it joins no run that records one
    for key in (
        "scale",
        "teacherEpochs",
        "teacherLr",
        "teacherModel",
        "studentEpochs",
        "students",
        "temperature",
        "alpha",
        "softLr",
        "softOptimizer",
        "hardLr",
        "labelsOptimizer",
        "clipGradNorm",
        "device",
    ):
        if any(part.get(key) != first.get(key) for part in parts):
            raise SystemExit(f"--merge: the runs differ in {key}; only runs of one setting can share a table")
    runs = sorted((run for part in parts for run in part["runs"]), key=lambda run: run["seed"])
    args.scale, args.temperature, args.alpha, args.soft_lr = (
        first["scale"],
        first["temperature"],
        first["alpha"],
        first["softLr"],
    )
    args.soft_optimizer, args.labels_lr, args.labels_optimizer = (
        first["softOptimizer"],
        first["hardLr"],
        first["labelsOptimizer"],
    )
    args.clip, args.device = first["clipGradNorm"], first["device"]
    wall = max(part["wallSeconds"] for part in parts)  # side by side: the slowest part is the wall time
    # the runs' machine, not this one's; each part's own time too, for parts that ran one after another
    origin = {
        "machine": first["machine"],
        "torchThreads": first["torchThreads"],
        "mergedFrom": [part["command"] for part in parts],
        "partWallSeconds": [part["wallSeconds"] for part in parts],
    }
    report(
        args,
        runs,
        first["students"],
        first["teacherEpochs"],
        first["studentEpochs"],
        first["teacherLr"],
        time.perf_counter() - wall,
        final=True,
        teacher_model=first["teacherModel"],
        origin=origin,
    )
    return 0


def _test_predictions(api, checkpoint: str, data: dict) -> tuple:
    outputs, labels = api.predict(checkpoint, data, "test", device="cpu")
    return outputs.argmax(axis=1), labels


def mcnemar(a_predictions, b_predictions, labels) -> dict:
    """Exact McNemar test of two classifiers on the same samples: only the discordant ones count (a right and b
    wrong, or the reverse); two-sided binomial p at 1/2."""
    a_right, b_right = a_predictions == labels, b_predictions == labels
    only_a, only_b = int((a_right & ~b_right).sum()), int((~a_right & b_right).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
    return {"onlyThisRight": only_a, "onlyBaselineRight": only_b, "pValue": p}


def report(args, runs, names, teacher_epochs, student_epochs, teacher_lr, started, final, teacher_model, origin=None):
    import torch

    seeds = [r["seed"] for r in runs]
    test_n = 10000 if args.scale == "full" else 2000
    summary = {}
    for key in ("teacher", *names):
        summary[key] = common.mean_std([float(r[key]) for r in runs])
    for name in names[1:]:
        summary[f"{name}GapClosedOfMeans"] = gap_closed(
            summary["hard-labels"][0], summary[name][0], summary["teacher"][0]
        )
    summary["gapClosedOfMeans"] = summary["soft-t20GapClosedOfMeans"]

    header = (
        ["seed", "teacher 2x1200"]
        + [f"2x800 {n}" for n in names]
        + [f"gap closed ({n})" for n in names[1:] if n.startswith("soft")]
    )
    soft = [n for n in names[1:] if n.startswith("soft")]
    rows = [
        [r["seed"], r["teacher"], *(r[n] for n in names), *(fmt_gap(r[f"{n}GapClosed"]) for n in soft)] for r in runs
    ]
    rows.append(
        [
            "mean ± sd",
            *(f"{summary[k][0]:.1f} ± {summary[k][1]:.1f}" for k in ("teacher", *names)),
            *(fmt_gap(summary[f"{n}GapClosedOfMeans"]) for n in soft),
        ]
    )
    rows.append(["paper (60k/10k)", 67, 146, 74, *(["—"] * (len(names) - 2)), "91%", *(["—"] * (len(soft) - 1))])
    if not final:
        common.write_json(
            f"repro_hinton_{args.scale}{args.tag}.partial.json",
            {"runs": runs, "wallSeconds": time.perf_counter() - started},
        )
        return
    print(
        f"\nHinton 2015 MNIST, {args.scale} ({test_n} test digits), teacher {teacher_epochs} epochs (SGD lr {teacher_lr:g}), "
        f"students {student_epochs} epochs, T={args.temperature:g} alpha={args.alpha:g}; {args.labels_optimizer} lr {args.labels_lr:g} (labels) / "
        f"{args.soft_optimizer} lr {args.soft_lr:g} (soft); "
        "test errors"
    )
    print(common.table(rows, header))
    for r in runs:
        for n in names[1:]:
            v = r[f"{n}VsBaseline"]
            print(
                f"seed {r['seed']}: {n} vs {v['baseline']}: {v['onlyThisRight']} digits only it gets right, "
                f"{v['onlyBaselineRight']} only the baseline; exact McNemar p = {v['pValue']:.3g}"
            )
    common.write_json(
        f"repro_hinton_{args.scale}{args.tag}.json",
        {
            "scale": args.scale,
            "testSamples": test_n,
            "teacherEpochs": teacher_epochs,
            "teacherLr": teacher_lr,
            "teacherModel": teacher_model,
            "studentEpochs": student_epochs,
            "students": names,
            "temperature": args.temperature,
            "alpha": args.alpha,
            "softLr": args.soft_lr,
            "softOptimizer": args.soft_optimizer,
            "hardLr": args.labels_lr,
            "labelsOptimizer": args.labels_optimizer,
            "clipGradNorm": args.clip,
            "device": args.device,
            "seeds": seeds,
            "runs": runs,
            "summary": summary,
            "wallSeconds": time.perf_counter() - started,
            "torchThreads": torch.get_num_threads(),
            "paper": {"teacher": 67, "hard-labels": 146, "soft-t20": 74, "gapClosed": 0.91},
            **(origin or {}),
        },
    )


def gap_closed(baseline: float, distilled: float, teacher: float) -> float | None:
    """Share of the baseline-to-teacher gap the distilled student closes; None when the teacher is no better than
    the baseline (then there is no gap to close and the ratio means nothing)."""
    return None if baseline <= teacher else (baseline - distilled) / (baseline - teacher)


def fmt_gap(value: float | None) -> str:
    return "n/a (no gap)" if value is None else f"{100 * value:.0f}%"


if __name__ == "__main__":
    sys.exit(main())
