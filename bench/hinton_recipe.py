"""Choosing the 2x1200 teacher's regularisation for bench/repro_hinton.py on a validation split — never the test set.

Plain PyTorch (no engine code), full MNIST's training set only: trains on train[:50k] and counts errors on
train[50k:], for one recipe per call:

    OMP_NUM_THREADS=2 node scripts/python.js bench/hinton_recipe.py NAME sgd|adam LR WEIGHT_DECAY INPUT_DROPOUT EPOCHS [DROPOUT] [--device cuda]

Every recipe: 784-1200-1200-10 ReLU, inputs jittered by up to 2 px (a random crop of the image padded by 2), batch
128, a cosine schedule over EPOCHS, seed 0. Prints the validation errors after each epoch. The table and the
choice it led to are in docs/RESULTS.md §8.
"""

import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common


def main() -> int:
    device = torch.device("cpu")
    if "--device" in sys.argv:  # the GPU run (bench/device/hinton.sh); the positional recipe stays as documented
        at = sys.argv.index("--device")
        device = torch.device(sys.argv[at + 1])
        del sys.argv[at:at + 2]
    name, opt_name, lr, wd, in_drop, epochs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    hidden_dropout = float(sys.argv[7]) if len(sys.argv) > 7 else 0.5
    torch.manual_seed(0)
    arrays = np.load(os.path.join(common.FULL_MNIST, "train.npz"))
    x = torch.tensor(arrays["x"], dtype=torch.float32) / 255.0
    y = torch.tensor(arrays["y"], dtype=torch.long)
    mean, std = x[:50000].mean(), x[:50000].std()
    x = (x - mean) / std
    x, y = x.to(device), y.to(device)
    xt, yt, xv, yv = x[:50000], y[:50000], x[50000:], y[50000:]
    layers = [torch.nn.Flatten(), torch.nn.Dropout(in_drop), torch.nn.Linear(784, 1200), torch.nn.ReLU(), torch.nn.Dropout(hidden_dropout),
              torch.nn.Linear(1200, 1200), torch.nn.ReLU(), torch.nn.Dropout(hidden_dropout), torch.nn.Linear(1200, 10)]
    model = torch.nn.Sequential(*layers).to(device)
    if opt_name == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    batch = 128
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * ((50000 + batch - 1) // batch))
    generator = torch.Generator().manual_seed(0)
    background = float(-mean / std)  # raw 0: black

    def jitter(images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        padded = torch.nn.functional.pad(images, (2, 2, 2, 2), value=background)
        offsets = torch.randint(0, 5, (2, n), generator=generator).to(device)
        index = torch.arange(28, device=device)
        rows = (offsets[0][:, None] + index)[:, :, None]
        cols = (offsets[1][:, None] + index)[:, None, :]
        return padded[torch.arange(n, device=device)[:, None, None], rows, cols]

    started = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(50000, generator=generator)
        for start in range(0, 50000, batch):
            index = order[start:start + batch].to(device)
            loss = torch.nn.functional.cross_entropy(model(jitter(xt[index])), yt[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():
            errors = int((model(xv).argmax(1) != yv).sum())
        print(name, "epoch", epoch + 1, "val errors", errors, f"{time.time() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
