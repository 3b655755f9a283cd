#!/usr/bin/env python3
"""How far float rounding alone moves the weights that bench/ddp.py compares: plain PyTorch (no engine, no DDP),
MLP 784-1200-1200-10, SGD lr 0.05 Nesterov, batch 256, the synthetic data of bench/ddp.py and one fixed order;
the gradient of the full batch vs the mean of the two half-batch gradients (rows 0, 2, 4, … and 1, 3, 5, …), which is
what 2 DDP ranks compute. Prints max |Δw| after 1 and 3 epochs.

    node scripts/python.js bench/ddp_rounding.py
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def data() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10000, 784)).astype(np.float32)
    y = (x @ rng.normal(size=(784, 10))).argmax(axis=1)
    rows, labels = torch.tensor(x[:8000]), torch.tensor(y[:8000])
    return (rows - rows.mean(0)) / rows.std(0), labels


def train(x: torch.Tensor, y: torch.Tensor, halves: bool, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(), nn.Linear(1200, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    order = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for index in torch.randperm(len(x), generator=order).split(256):
            optimizer.zero_grad()
            if halves:
                grads = []
                for part in (index[0::2], index[1::2]):
                    model.zero_grad()
                    nn.functional.cross_entropy(model(x[part]), y[part]).backward()
                    grads.append([p.grad.clone() for p in model.parameters()])  # type: ignore[union-attr]
                for parameter, first, second in zip(model.parameters(), *grads, strict=True):
                    parameter.grad = (first + second) / 2
            else:
                nn.functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    return model


def main() -> None:
    torch.set_num_threads(1)
    x, y = data()
    for epochs in (1, 3):
        full, halves = train(x, y, False, epochs), train(x, y, True, epochs)
        gap = max(float((a - b).abs().max()) for a, b in zip(full.parameters(), halves.parameters(), strict=True))
        print(f"{epochs} epoch(s): max |Δw| full batch vs mean of two halves = {gap:.2e}")


if __name__ == "__main__":
    main()
