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
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

SETTINGS = {
    # epochs chosen so that the full-scale run fits ~25 min of this 2-core machine for 3 seeds
    "full": {"data": common.full_data, "teacher_epochs": 16, "student_epochs": 12},
    # the demo's schedule (examples/demo.json)
    "embedded": {"data": common.embedded_data, "teacher_epochs": 30, "student_epochs": 20},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SETTINGS), default="embedded")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--teacher-epochs", type=int)
    parser.add_argument("--student-epochs", type=int)
    parser.add_argument("--temperature", type=float, default=20.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--soft-lr", type=float, default=0.01,
                        help="SGD lr of the soft-target student (0.05, the hard-label one's, is unstable with T=20 on 60k digits)")
    parser.add_argument("--tag", default="", help="suffix for the output folder and JSON (runs with other settings side by side)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (the GPU run in docs/RESULTS.md used cuda)")
    parser.add_argument("--clip", type=float, help="training.clipGradNorm for both students (stabilises T=20 at lr 0.05)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: see docs/RESULTS.md on the shared 2-core machine)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from distillery import api

    setting = SETTINGS[args.scale]
    teacher_epochs = args.teacher_epochs or setting["teacher_epochs"]
    student_epochs = args.student_epochs or setting["student_epochs"]
    data = setting["data"]()
    seeds = [int(s) for s in args.seeds.split(",")]
    student_training = common.training(student_epochs)
    soft_training = common.training(student_epochs, common.sgd(args.soft_lr))
    if args.clip:
        student_training["clipGradNorm"] = soft_training["clipGradNorm"] = args.clip
    runs = []
    started = time.perf_counter()
    for seed in seeds:
        out_dir = os.path.join(common.OUT, f"hinton-{args.scale}{args.tag}", f"seed-{seed}")
        log = common.progress(f"seed {seed} ")
        teacher = api.call("train_teacher", common.train_teacher_request(data, out_dir, common.teacher_spec(teacher_epochs),
                                                                         device=args.device, seed=seed, resume=True), log)
        row = {"seed": seed, "teacher": teacher["metrics"]["testErrors"], "teacherSeconds": teacher["trainSeconds"],
               "teacherCheckpoint": teacher["checkpoint"]}
        for index, (name, method) in enumerate([
            ("hard-labels", {"type": "hard-labels"}),
            ("soft-t20", {"type": "soft-targets", "temperature": args.temperature, "alpha": args.alpha}),
        ]):
            student = common.student_spec(name, common.mlp([800, 800]), method,
                                          soft_training if method["type"] == "soft-targets" else student_training)
            result = api.call("distill", common.distill_request(data, out_dir, student, teacher=teacher["checkpoint"], device=args.device,
                                                                seed=seed + 1000 * (index + 1), resume=True), log)
            row[name] = result["metrics"]["testErrors"]
            row[f"{name}Seconds"] = result["trainSeconds"]
            row[f"{name}Agreement"] = result["metrics"].get("testAgreement")
        row["gapClosed"] = gap_closed(row["hard-labels"], row["soft-t20"], row["teacher"])
        runs.append(row)
        print(f"seed {seed}: teacher {row['teacher']}, hard {row['hard-labels']}, soft {row['soft-t20']} errors", file=sys.stderr, flush=True)
        report(args, runs, teacher_epochs, student_epochs, started, final=seed == seeds[-1])
    return 0


def report(args, runs, teacher_epochs, student_epochs, started, final):
    import torch

    seeds = [r["seed"] for r in runs]
    test_n = 10000 if args.scale == "full" else 2000
    summary = {}
    for key in ("teacher", "hard-labels", "soft-t20"):
        summary[key] = common.mean_std([float(r[key]) for r in runs])
    summary["gapClosedOfMeans"] = gap_closed(summary["hard-labels"][0], summary["soft-t20"][0], summary["teacher"][0])

    rows = [[r["seed"], r["teacher"], r["hard-labels"], r["soft-t20"], fmt_gap(r["gapClosed"])] for r in runs]
    rows.append(["mean ± sd", *(f"{summary[k][0]:.1f} ± {summary[k][1]:.1f}" for k in ("teacher", "hard-labels", "soft-t20")),
                 fmt_gap(summary["gapClosedOfMeans"])])
    rows.append(["paper (60k/10k)", 67, 146, 74, "91%"])
    if not final:
        common.write_json(f"repro_hinton_{args.scale}{args.tag}.partial.json", {"runs": runs, "wallSeconds": time.perf_counter() - started})
        return
    print(f"\nHinton 2015 MNIST, {args.scale} ({test_n} test digits), teacher {teacher_epochs} epochs, students {student_epochs} epochs, "
          f"T={args.temperature:g} alpha={args.alpha:g}; SGD lr 0.05 (labels) / {args.soft_lr:g} (soft); test errors")
    print(common.table(rows, ["seed", "teacher 2x1200", "2x800 hard-labels", "2x800 soft T=20", "gap closed"]))
    common.write_json(f"repro_hinton_{args.scale}{args.tag}.json", {
        "scale": args.scale, "testSamples": test_n, "teacherEpochs": teacher_epochs, "studentEpochs": student_epochs,
        "temperature": args.temperature, "alpha": args.alpha, "softLr": args.soft_lr, "hardLr": 0.05, "clipGradNorm": args.clip, "device": args.device, "seeds": seeds, "runs": runs, "summary": summary,
        "wallSeconds": time.perf_counter() - started, "torchThreads": torch.get_num_threads(),
        "paper": {"teacher": 67, "hard-labels": 146, "soft-t20": 74, "gapClosed": 0.91},
    })


def gap_closed(baseline: float, distilled: float, teacher: float) -> float | None:
    """Share of the baseline-to-teacher gap the distilled student closes; None when the teacher is no better than
    the baseline (then there is no gap to close and the ratio means nothing)."""
    return None if baseline <= teacher else (baseline - distilled) / (baseline - teacher)


def fmt_gap(value: float | None) -> str:
    return "n/a (no gap)" if value is None else f"{100 * value:.0f}%"


if __name__ == "__main__":
    sys.exit(main())
