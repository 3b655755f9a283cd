"""Choosing the 2x1200 teacher's regularisation for bench/repro_hinton.py on a validation split — never the test set.

Plain PyTorch (bench/hinton_plain.py, no engine code), full MNIST's training set only: trains on train[:50k] and
counts errors on train[50k:], for one recipe per call:

    OMP_NUM_THREADS=2 node scripts/python.js bench/hinton_recipe.py NAME sgd|adam LR WEIGHT_DECAY INPUT_DROPOUT EPOCHS [DROPOUT] [--device cuda]

Every recipe: 784-1200-1200-10 ReLU, inputs jittered by up to 2 px (a random crop of the image padded by 2), batch
128, a cosine schedule over EPOCHS, seed 0. Prints the validation errors after each epoch. The table and the
choice it led to are in docs/RESULTS.md §8.
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hinton_plain as plain


def main() -> int:
    device = torch.device("cpu")
    if "--device" in sys.argv:  # the GPU run (bench/device/hinton.sh); the positional recipe stays as documented
        at = sys.argv.index("--device")
        device = torch.device(sys.argv[at + 1])
        del sys.argv[at : at + 2]
    name, opt_name, lr, wd, in_drop, epochs = (
        sys.argv[1],
        sys.argv[2],
        float(sys.argv[3]),
        float(sys.argv[4]),
        float(sys.argv[5]),
        int(sys.argv[6]),
    )
    hidden_dropout = float(sys.argv[7]) if len(sys.argv) > 7 else 0.5
    torch.manual_seed(0)
    xt, yt, xv, yv, background = plain.load(device)
    model = plain.mlp(1200, hidden_dropout, in_drop).to(device)
    if opt_name == "sgd":
        optimizer = plain.sgd(model, lr, wd)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    plain.train(
        model,
        optimizer,
        epochs,
        lambda logits, index: F.cross_entropy(logits, yt[index]),
        xt,
        xv,
        yv,
        0,
        name,
        jitter=plain.shifter(background),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
