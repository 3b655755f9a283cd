"""Choosing the 2x800 student's schedule for bench/repro_hinton.py on a validation split — never the test set.

Plain PyTorch (bench/hinton_plain.py, no engine code), full MNIST's training set only: trains the 2x1200 teacher
of bench/hinton_recipe.py (dropout 0.3, SGD 0.05 Nesterov, cosine, 2-px jitter, batch 128) on train[:50k], takes
its soft targets on the unjittered train[:50k], then trains the paper's students for every schedule (side by side
on a GPU, one at a time on a CPU): the 2x800 on the labels and the 2x800 distilled exactly as in the paper (T 20,
alpha 0.9, no jitter, SGD 0.05, clip 5 — repro_hinton.py's flags). Errors are counted on train[50k:] after each
epoch; the summary gives, per schedule, the share of the labels-to-teacher gap the distilled student closes on
validation. Other settings, each a student of its own:
- --alphas: weights of the soft term; --soft-lrs: SGD learning rates, or Adam as adam:LR;
- --labels-optimizers: the same for the labels student (the first is the baseline of the gap);
- --teacher-recipes: several teachers, each as dropout/input-dropout (the paper's: 0.5/0.2), a student from each;
  --teacher-seeds several of each; --bf16 in bf16 autocast, as the engine trains on a CPU with native bf16;
- --adjust-wrong-targets: also a student from each teacher's targets with its wrong training rows corrected
  (Wen et al.'s knowledge adjustment).

    python3 bench/hinton_student.py --device cuda --teacher-epochs 60 --student-epochs 30,60,120
    OMP_NUM_THREADS=2 node scripts/python.js bench/hinton_student.py --teacher-epochs 60 --student-epochs 30 --teacher-recipes 0.3/0,0.5/0.2

Writes hinton_student.json to $BENCH_OUT (default bench/out).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
import hinton_plain as plain


def student(job: tuple[str, str, int, str, str, float, str, bool]) -> tuple[str, int, list[int]]:
    kind, device_name, epochs, targets_path, threads, alpha, optimizer, bf16 = job
    torch.set_num_threads(int(threads))
    device = torch.device(device_name)
    xt, yt, xv, yv, _ = plain.load(device)
    torch.manual_seed(1)
    model = plain.mlp(800, 0.0).to(device)
    if kind.startswith("labels"):
        history = plain.train(
            model,
            plain.optimizer(model, optimizer),
            epochs,
            lambda logits, index: F.cross_entropy(logits, yt[index]),
            xt,
            xv,
            yv,
            1,
            f"{kind}-{epochs}",
            bf16=bf16,
        )
    else:
        soft = torch.load(targets_path).to(device)  # the teacher's softmax(z / 20) on train[:50k]
        t = 20.0

        def loss_of(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            kl = F.kl_div(F.log_softmax(logits.float() / t, dim=1), soft[index], reduction="batchmean")
            return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(logits, yt[index])

        history = plain.train(
            model,
            plain.optimizer(model, optimizer),
            epochs,
            loss_of,
            xt,
            xv,
            yv,
            1,
            f"{kind}-{epochs}",
            clip=5.0,
            bf16=bf16,
        )
    return kind, epochs, history


def optimizer_name(spec: str) -> str:
    """'0.05' (SGD, the default) -> 'lr0.05'; 'adam:0.001' -> 'adam0.001'."""
    kind, lr = plain.optimizer_spec(spec)
    return f"lr{lr:g}" if kind == "sgd" else f"{kind}{lr:g}"


def soft_name(
    alpha: float, optimizer: str, alphas: list[float], optimizers: list[str], teacher: str, teachers: int
) -> str:
    return (
        "soft-t20"
        + (f"-a{alpha:g}" if alphas != [0.9] else "")
        + (f"-{optimizer_name(optimizer)}" if optimizers != ["0.05"] else "")
        + (f"-from-{teacher}" if teachers > 1 else "")
    )


@dataclass
class Teacher:
    """One trained teacher: its recipe, where its soft targets are, and what it is like — validation errors, and on
    the training rows (the very rows the student learns from) its errors and mean top probability at T = 1."""

    recipe: str
    seed: int
    dropout: float
    input_dropout: float
    validation_errors: int
    validation_history: list[int]
    train_errors: int
    train_mean_top_probability: float
    targets: str
    adjusted_targets: str  # the same with the wrong rows' top class and true class swapped

    @property
    def name(self) -> str:
        return f"{self.recipe}-s{self.seed}"

    def summary(self) -> dict[str, object]:
        return {
            "recipe": self.recipe,
            "seed": self.seed,
            "dropout": self.dropout,
            "inputDropout": self.input_dropout,
            "validationErrors": self.validation_errors,
            "validationHistory": self.validation_history,
            "trainErrors": self.train_errors,
            "trainMeanTopProbability": self.train_mean_top_probability,
        }


def train_teacher(
    args: argparse.Namespace,
    recipe: str,
    seed: int,
    xt: torch.Tensor,
    yt: torch.Tensor,
    xv: torch.Tensor,
    yv: torch.Tensor,
    background: float,
) -> Teacher:
    """Trains the 2x1200 teacher of one recipe (``dropout/input-dropout``) from one seed (its initial weights, order and
    jitter) and saves its softmax(z / 20) on train[:50k]."""
    dropout, input_dropout = (float(part) for part in recipe.split("/"))
    torch.manual_seed(seed)
    teacher = plain.mlp(1200, dropout, input_dropout).to(xt.device)
    history = plain.train(
        teacher,
        plain.sgd(teacher, 0.05),
        args.teacher_epochs,
        lambda logits, index: F.cross_entropy(logits, yt[index]),
        xt,
        xv,
        yv,
        seed,
        f"teacher-{recipe}-s{seed}-{args.teacher_epochs}",
        jitter=plain.shifter(background),
        bf16=args.bf16,
    )
    teacher.eval()
    with torch.no_grad():
        logits = torch.cat([teacher(xt[i : i + 4096]) for i in range(0, plain.TRAIN_ROWS, 4096)])
    soft = F.softmax(logits / 20.0, dim=1).cpu()
    stem = os.path.join(common.OUT, f"hinton_student_targets_{recipe.replace('/', '_')}_s{seed}_{args.teacher_epochs}")
    torch.save(soft, f"{stem}.pt")
    torch.save(adjusted(soft, yt.cpu()), f"{stem}_adjusted.pt")
    return Teacher(
        recipe,
        seed,
        dropout,
        input_dropout,
        history[-1],
        history,
        int((logits.argmax(1) != yt).sum()),
        float(F.softmax(logits, dim=1).max(1).values.mean()),
        f"{stem}.pt",
        f"{stem}_adjusted.pt",
    )


def print_recipe_means(rows: list[dict[str, object]]) -> None:
    """Per recipe, student schedule and soft student's settings: the means over the teacher seeds, and the share of
    the gap of the means closed (as docs/RESULTS.md computes it over seeds)."""
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault(
            (
                row["teacherRecipe"],
                row["studentEpochs"],
                row["alpha"],
                f"{row['optimizer']}:{row['lr']}",
                str(row["student"]).endswith("-adjusted"),
            ),
            [],
        ).append(row)
    for (recipe, epochs, alpha, optimizer, adjusted_targets), group in groups.items():
        teacher, labels, soft = (
            sum(float(str(row[key])) for row in group) / len(group)
            for key in ("teacherValidationErrors", "labels", "softT20")
        )
        gap = f"{100 * (labels - soft) / (labels - teacher):.0f}%" if labels > teacher else "n/a"
        print(
            f"recipe {recipe}{' adjusted' if adjusted_targets else ''}, students {epochs} epochs, alpha {alpha:g}, {optimizer_name(optimizer)}, "
            f"{len(group)} teacher seeds: teacher {teacher:.1f}, labels {labels:.1f}, soft-t20 {soft:.1f} validation errors; "
            f"gap closed {gap}",
            flush=True,
        )


def adjusted(soft: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Knowledge adjustment (Wen et al. 2019): on every row the teacher gets wrong, swap the probability of its top
    class with that of the true class, so each target is right and keeps the teacher's other class similarities."""
    out = soft.clone()
    rows = (soft.argmax(1) != labels).nonzero().squeeze(1)
    top, true = soft[rows].argmax(1), labels[rows]
    out[rows, top], out[rows, true] = soft[rows, true], soft[rows, top]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--teacher-epochs", type=int, default=60)
    parser.add_argument("--student-epochs", default="30,60,150")
    parser.add_argument(
        "--alphas",
        default="0.9",
        help="the soft students' alpha (weight of T^2 KL; 1 - alpha on the labels), comma-separated",
    )
    parser.add_argument(
        "--soft-lrs",
        default="0.05",
        help="the soft students' optimizers, comma-separated: an SGD learning rate (0.05), or adam:LR for Adam",
    )
    parser.add_argument(
        "--labels-optimizers",
        default="0.05",
        help="the labels students' optimizers, as --soft-lrs; the first is the baseline the gap is measured from",
    )
    parser.add_argument(
        "--teacher-recipes",
        default="0.3/0",
        help="teachers as dropout/input-dropout, comma-separated (the paper's: 0.5/0.2)",
    )
    parser.add_argument(
        "--teacher-seeds",
        default="0",
        help="one teacher per recipe and seed (initial weights, order, jitter), comma-separated",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="train under bf16 autocast, as the engine's 'auto' does on a CPU with native bf16",
    )
    parser.add_argument(
        "--adjust-wrong-targets",
        action="store_true",
        help="also distil from each teacher's targets with its wrong training rows corrected (knowledge adjustment)",
    )
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    torch.set_num_threads(int(args.threads))
    device = torch.device(args.device)
    started = time.time()
    xt, yt, xv, yv, background = plain.load(device)
    os.makedirs(common.OUT, exist_ok=True)
    recipes = args.teacher_recipes.split(",")
    seeds = [int(seed) for seed in args.teacher_seeds.split(",")]
    teachers = [train_teacher(args, recipe, seed, xt, yt, xv, yv, background) for recipe in recipes for seed in seeds]
    schedules = [int(e) for e in args.student_epochs.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    optimizers = args.soft_lrs.split(",")
    labels_kinds = [
        ("labels" if index == 0 else f"labels-{optimizer_name(spec)}", spec)
        for index, spec in enumerate(args.labels_optimizers.split(","))
    ]
    kinds: list[tuple[str, float, str, Optional[Teacher], str]] = [
        (name, 0.0, spec, None, "") for name, spec in labels_kinds
    ]
    for t in teachers:
        for alpha in alphas:
            for spec in optimizers:
                name = soft_name(alpha, spec, alphas, optimizers, t.name, len(teachers))
                kinds.append((name, alpha, spec, t, t.targets))
                if args.adjust_wrong_targets:
                    kinds.append((f"{name}-adjusted", alpha, spec, t, t.adjusted_targets))
    jobs = [
        (kind, args.device, epochs, targets, args.threads, alpha, spec, args.bf16)
        for epochs in schedules
        for kind, alpha, spec, _, targets in kinds
    ]
    # side by side on a GPU (launch-bound); one at a time on a CPU, where two torch jobs would fight for the cores
    with multiprocessing.get_context("spawn").Pool(len(jobs) if device.type == "cuda" else 1) as pool:
        results = pool.map(student, jobs)
    rows = []
    for epochs in schedules:
        labels = next(h for k, e, h in results if k == "labels" and e == epochs)[-1]
        for name, _ in labels_kinds[1:]:
            print(
                f"students {epochs} epochs: labels {labels}, {name} {next(h for k, e, h in results if k == name and e == epochs)[-1]} "
                "validation errors",
                flush=True,
            )
        for kind, alpha, spec, source, _ in kinds[len(labels_kinds) :]:
            assert source is not None  # every kind after "labels" is distilled from a teacher
            teacher_errors = source.validation_errors
            distilled = next(h for k, e, h in results if k == kind and e == epochs)[-1]
            gap = (labels - distilled) / (labels - teacher_errors) if labels > teacher_errors else None
            optimizer, lr = plain.optimizer_spec(spec)
            row = {
                "student": kind,
                "studentEpochs": epochs,
                "alpha": alpha,
                "optimizer": optimizer,
                "lr": lr,
                "teacherRecipe": source.recipe,
                "teacherSeed": source.seed,
                "teacherValidationErrors": teacher_errors,
                "labels": labels,
                "softT20": distilled,
                "gapClosed": gap,
            }
            rows.append(row)
            print(
                f"students {epochs} epochs: labels {labels}, {kind} {distilled} validation errors; teacher {teacher_errors}; "
                f"gap closed {'n/a' if gap is None else f'{100 * gap:.0f}%'}",
                flush=True,
            )
    print_recipe_means(rows)
    common.write_json(
        "hinton_student.json",
        {
            "teacherEpochs": args.teacher_epochs,
            "bf16": args.bf16,
            "labelsOptimizers": args.labels_optimizers.split(","),
            "teachers": [t.summary() for t in teachers],
            "validation": "train[50k:]",
            "rows": rows,
            "histories": [{"kind": k, "epochs": e, "validationErrors": h} for k, e, h in results],
            "wallSeconds": time.time() - started,
            "device": args.device,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
