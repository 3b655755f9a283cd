"""Choosing the 2x800 student's schedule for bench/repro_hinton.py on a validation split — never the test set.

Plain PyTorch (no engine code), full MNIST's training set only: trains the 2x1200 teacher of bench/hinton_recipe.py
(dropout 0.3, SGD 0.05 Nesterov, cosine, 2-px jitter, batch 128) on train[:50k], takes its soft targets on the
unjittered train[:50k], then trains the paper's students side by side (one process each) for every schedule:
the 2x800 on the labels and the 2x800 distilled exactly as in the paper (T 20, alpha 0.9, no jitter, SGD 0.05,
clip 5 — repro_hinton.py's flags; --alphas and --soft-lrs try other weights of the soft term and learning rates). Errors are counted on train[50k:] after each epoch; the summary gives, per
schedule, the share of the labels-to-teacher gap the distilled student closes on validation.

    python3 bench/hinton_student.py --device cuda --teacher-epochs 60 --student-epochs 30,60,150

Writes hinton_student.json to $BENCH_OUT (default bench/out).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

TRAIN_ROWS = 50000
BATCH = 128


def load(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    arrays = np.load(os.path.join(common.FULL_MNIST, "train.npz"))
    x = torch.tensor(arrays["x"], dtype=torch.float32).reshape(-1, 28, 28) / 255.0
    y = torch.tensor(arrays["y"], dtype=torch.long)
    mean, std = x[:TRAIN_ROWS].mean(), x[:TRAIN_ROWS].std()
    x = ((x - mean) / std).to(device)
    y = y.to(device)
    return x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:], float(-mean / std)


def mlp(hidden: int, dropout: float) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(hidden, 10))


def errors(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    model.eval()
    with torch.no_grad():
        return int((model(x).argmax(1) != y).sum())


def train(model: torch.nn.Module, epochs: int, loss_of: Any, xt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
          seed: int, label: str, clip: float | None = None, jitter: Any = None, lr: float = 0.05) -> list[int]:
    device = xt.device
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * ((TRAIN_ROWS + BATCH - 1) // BATCH))
    generator = torch.Generator().manual_seed(seed)
    history = []
    started = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(TRAIN_ROWS, generator=generator).to(device)
        for start in range(0, TRAIN_ROWS, BATCH):
            index = order[start:start + BATCH]
            inputs = xt[index] if jitter is None else jitter(xt[index], generator)
            loss = loss_of(model(inputs), index)
            optimizer.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            scheduler.step()
        history.append(errors(model, xv, yv))
        print(label, "epoch", epoch + 1, "val errors", history[-1], f"{time.time() - started:.0f}s", flush=True)
    return history


def shifter(background: float) -> Any:
    def jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = images.shape[0], images.device
        padded = F.pad(images, (2, 2, 2, 2), value=background)
        offsets = torch.randint(0, 5, (2, n), generator=generator).to(device)
        index = torch.arange(28, device=device)
        rows = (offsets[0][:, None] + index)[:, :, None]
        cols = (offsets[1][:, None] + index)[:, None, :]
        return padded[torch.arange(n, device=device)[:, None, None], rows, cols]
    return jitter


def student(job: tuple[str, str, int, str, str, float, float]) -> tuple[str, int, list[int]]:
    kind, device_name, epochs, targets_path, threads, alpha, lr = job
    torch.set_num_threads(int(threads))
    device = torch.device(device_name)
    xt, yt, xv, yv, _ = load(device)
    torch.manual_seed(1)
    model = mlp(800, 0.0).to(device)
    if kind == "labels":
        history = train(model, epochs, lambda logits, index: F.cross_entropy(logits, yt[index]), xt, xv, yv, 1, f"labels-{epochs}")
    else:
        soft = torch.load(targets_path).to(device)  # the teacher's softmax(z / 20) on train[:50k]
        t = 20.0

        def loss_of(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            kl = F.kl_div(F.log_softmax(logits / t, dim=1), soft[index], reduction="batchmean")
            return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(logits, yt[index])
        history = train(model, epochs, loss_of, xt, xv, yv, 1, f"{kind}-{epochs}", clip=5.0, lr=lr)
    return kind, epochs, history


def soft_name(alpha: float, lr: float, alphas: list[float], lrs: list[float]) -> str:
    return "soft-t20" + (f"-a{alpha:g}" if alphas != [0.9] else "") + (f"-lr{lr:g}" if lrs != [0.05] else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--teacher-epochs", type=int, default=60)
    parser.add_argument("--student-epochs", default="30,60,150")
    parser.add_argument("--alphas", default="0.9", help="the soft students' alpha (weight of T^2 KL; 1 - alpha on the labels), comma-separated")
    parser.add_argument("--soft-lrs", default="0.05", help="the soft students' SGD learning rates, comma-separated (labels: 0.05)")
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    torch.set_num_threads(int(args.threads))
    device = torch.device(args.device)
    started = time.time()
    xt, yt, xv, yv, background = load(device)
    torch.manual_seed(0)
    teacher = mlp(1200, 0.3).to(device)
    teacher_history = train(teacher, args.teacher_epochs, lambda logits, index: F.cross_entropy(logits, yt[index]), xt, xv, yv, 0,
                            f"teacher-{args.teacher_epochs}", jitter=shifter(background))
    teacher.eval()
    with torch.no_grad():
        soft = torch.cat([F.softmax(teacher(xt[i:i + 4096]) / 20.0, dim=1) for i in range(0, TRAIN_ROWS, 4096)])
    os.makedirs(common.OUT, exist_ok=True)
    targets_path = os.path.join(common.OUT, "hinton_student_targets.pt")
    torch.save(soft.cpu(), targets_path)
    schedules = [int(e) for e in args.student_epochs.split(",")]
    alphas = [float(a) for a in args.alphas.split(",")]
    lrs = [float(lr) for lr in args.soft_lrs.split(",")]
    kinds = [("labels", 0.0, 0.05)] + [(soft_name(alpha, lr, alphas, lrs), alpha, lr) for alpha in alphas for lr in lrs]
    jobs = [(kind, args.device, epochs, targets_path, args.threads, alpha, lr) for epochs in schedules for kind, alpha, lr in kinds]
    # side by side on a GPU (launch-bound); one at a time on a CPU, where two torch jobs would fight for the cores
    with multiprocessing.get_context("spawn").Pool(len(jobs) if device.type == "cuda" else 1) as pool:
        results = pool.map(student, jobs)
    teacher_errors = teacher_history[-1]
    rows = []
    for epochs in schedules:
        labels = next(h for k, e, h in results if k == "labels" and e == epochs)[-1]
        for kind, alpha, lr in kinds[1:]:
            distilled = next(h for k, e, h in results if k == kind and e == epochs)[-1]
            gap = (labels - distilled) / (labels - teacher_errors) if labels > teacher_errors else None
            row = {"studentEpochs": epochs, "alpha": alpha, "lr": lr, "labels": labels, "softT20": distilled, "gapClosed": gap}
            rows.append(row)
            print(f"students {epochs} epochs: labels {labels}, {kind} {distilled} validation errors; teacher {teacher_errors}; "
                  f"gap closed {'n/a' if gap is None else f'{100 * gap:.0f}%'}", flush=True)
    common.write_json("hinton_student.json", {"teacherEpochs": args.teacher_epochs, "teacherValidationErrors": teacher_errors,
                                              "validation": "train[50k:]", "rows": rows,
                                              "histories": [{"kind": k, "epochs": e, "validationErrors": h} for k, e, h in results],
                                              "wallSeconds": time.time() - started, "device": args.device})
    return 0


if __name__ == "__main__":
    sys.exit(main())
