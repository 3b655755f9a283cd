"""Plain PyTorch (no engine code) for choosing Hinton's recipe on a validation split, shared by
bench/hinton_recipe.py (the teacher) and bench/hinton_student.py (the students): full MNIST's train[:50k] to train
on, train[50k:] to count errors on — the test set is never read. One data loader, one MLP, the 2-px jitter and one
training loop (batch 128, cosine schedule over the run, errors printed after every epoch as
``LABEL epoch N val errors E Ts``, the line bench/device/hinton.sh reads).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

TRAIN_ROWS = 50000
BATCH = 128

Jitter = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits, row indices of the batch) -> loss


def load(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(x_train, y_train, x_validation, y_validation, background): digits normalised by train[:50k]'s mean and std;
    background is a raw 0 (black) after that normalisation."""
    arrays = np.load(os.path.join(common.FULL_MNIST, "train.npz"))
    x = torch.tensor(arrays["x"], dtype=torch.float32).reshape(-1, 28, 28) / 255.0
    y = torch.tensor(arrays["y"], dtype=torch.long)
    mean, std = x[:TRAIN_ROWS].mean(), x[:TRAIN_ROWS].std()
    x = ((x - mean) / std).to(device)
    y = y.to(device)
    return x[:TRAIN_ROWS], y[:TRAIN_ROWS], x[TRAIN_ROWS:], y[TRAIN_ROWS:], float(-mean / std)


def mlp(hidden: int, dropout: float, input_dropout: float = 0.0) -> torch.nn.Sequential:
    """784-hidden-hidden-10 ReLU, dropout after each hidden layer (and on the inputs when input_dropout > 0)."""
    inputs = [torch.nn.Dropout(input_dropout)] if input_dropout > 0 else []
    return torch.nn.Sequential(
        torch.nn.Flatten(),
        *inputs,
        torch.nn.Linear(784, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, 10),
    )


def sgd(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)


def optimizer_spec(spec: str) -> tuple[str, float]:
    """'0.05' -> ('sgd', 0.05), the SGD of every recipe here; 'adam:0.001' -> ('adam', 0.001)."""
    kind, _, lr = spec.rpartition(":")
    if kind not in ("", "sgd", "adam"):
        raise SystemExit(f"optimizer {spec!r}: expected an SGD learning rate, sgd:LR or adam:LR")
    return kind or "sgd", float(lr)


def optimizer(model: torch.nn.Module, spec: str) -> torch.optim.Optimizer:
    """SGD (Nesterov, momentum 0.9) or Adam, without weight decay: the paper's students have no regularisation."""
    kind, lr = optimizer_spec(spec)
    return sgd(model, lr) if kind == "sgd" else torch.optim.Adam(model.parameters(), lr=lr)


def errors(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    model.eval()
    with torch.no_grad():
        return int((model(x).argmax(1) != y).sum())


def shifter(background: float) -> Jitter:
    """Each image shifted by up to 2 px in each direction: a random 28x28 crop of the image padded by 2."""

    def jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = images.shape[0], images.device
        padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=background)
        offsets = torch.randint(0, 5, (2, n), generator=generator).to(device)
        index = torch.arange(28, device=device)
        rows = (offsets[0][:, None] + index)[:, :, None]
        cols = (offsets[1][:, None] + index)[:, None, :]
        return padded[torch.arange(n, device=device)[:, None, None], rows, cols]

    return jitter


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    loss_of: Loss,
    xt: torch.Tensor,
    xv: torch.Tensor,
    yv: torch.Tensor,
    seed: int,
    label: str,
    clip: Optional[float] = None,
    jitter: Optional[Jitter] = None,
    bf16: bool = False,
) -> list[int]:
    """Trains for ``epochs`` on xt in a seeded order (the jitter draws from the same generator); returns the
    validation errors after each epoch. ``bf16``: forward and loss under bf16 autocast, as the engine's
    ``mixedPrecision: 'auto'`` trains on a CPU with native bf16 (validation errors are counted in fp32)."""
    device = xt.device
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * ((TRAIN_ROWS + BATCH - 1) // BATCH))
    generator = torch.Generator().manual_seed(seed)
    history = []
    started = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(TRAIN_ROWS, generator=generator).to(device)
        for start in range(0, TRAIN_ROWS, BATCH):
            index = order[start : start + BATCH]
            inputs = xt[index] if jitter is None else jitter(xt[index], generator)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
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
