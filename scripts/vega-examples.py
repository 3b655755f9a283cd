"""Writes two small public tables from the npm package vega-datasets into examples/data/, gzipped, split once.

    node scripts/python.js scripts/vega-examples.py      # reads node_modules/vega-datasets (a devDependency)

Both come from vega-datasets 3.2.1 (npm, BSD-3-Clause; the data's own licences in its datapackage.json), the source
of issue 26's small-data cases and of RESULTS §18's two small rows (bench/results_table.mjs: seattle-weather,
penguins). Nothing is downloaded when an experiment runs: the .csv.gz files are committed.

- seattle-weather-{train,test}.csv.gz — data/seattle-weather.csv, 1,461 days of Seattle weather (NOAA; U.S.
  Government work): `weather` (drizzle, rain, sun, snow, fog) from `precipitation`, `temp_max`, `temp_min`, `wind`.
  A time-ordered split: 2012–2014 train (1,096 days), 2015 test (365 days), rows in date order. The `date` column is
  kept so the split can be checked; experiments leave it out with `features` (a date is one category per row).
- penguins-{train,test}.csv.gz — data/penguins.json, 344 Palmer Archipelago penguins (CC0): `Species` (Adelie,
  Chinstrap, Gentoo) from `Island`, `Sex` (strings), beak length and depth, flipper length, body mass (numbers).
  Missing values as in the source: JSON null becomes an empty cell (10 rows lack `Sex`; 2 of them every
  measurement too), and one `Sex` cell is "." as published. A fixed permutation (seed 0), 75 % train (258 rows) /
  25 % test (86 rows: 40 Adelie, 15 Chinstrap, 31 Gentoo).

gzip's header carries no time stamp, so the files are the same bytes on every run.
"""

import csv
import json
import os
import random

from example_tables import write_gzip_csv  # scripts/ is on sys.path when a script in it runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "node_modules", "vega-datasets")
OUT = os.path.join(ROOT, "examples", "data")
VERSION = "3.2.1"


def cell(value: object) -> str:
    """A JSON value as a CSV cell: null → empty, integers without a decimal point, floats as Python writes them."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def seattle_weather() -> None:
    with open(os.path.join(SOURCE, "data", "seattle-weather.csv"), encoding="utf8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert header == ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"], header
    body.sort(key=lambda row: row[0])  # ISO dates: date order
    train = [row for row in body if row[0] < "2015-01-01"]
    test = [row for row in body if row[0] >= "2015-01-01"]
    write_gzip_csv(os.path.join(OUT, "seattle-weather-train.csv.gz"), header, train)
    write_gzip_csv(os.path.join(OUT, "seattle-weather-test.csv.gz"), header, test)
    print(f"seattle-weather: {len(body)} rows ({len(train)} train: 2012-2014, {len(test)} test: 2015)")


def penguins() -> None:
    with open(os.path.join(SOURCE, "data", "penguins.json"), encoding="utf8") as handle:
        records = json.load(handle)
    header = list(records[0].keys())
    body = [[cell(record.get(column)) for column in header] for record in records]
    order = list(range(len(body)))
    random.Random(0).shuffle(order)
    cut = int(0.75 * len(body))
    write_gzip_csv(os.path.join(OUT, "penguins-train.csv.gz"), header, [body[i] for i in order[:cut]])
    write_gzip_csv(os.path.join(OUT, "penguins-test.csv.gz"), header, [body[i] for i in order[cut:]])
    print(f"penguins: {len(body)} rows ({cut} train, {len(body) - cut} test), columns {', '.join(header)}")


def main() -> None:
    with open(os.path.join(SOURCE, "package.json"), encoding="utf8") as handle:
        version = json.load(handle)["version"]
    if version != VERSION:
        raise SystemExit(f"vega-datasets {version} is installed; these files were made from {VERSION} (npm ci)")
    seattle_weather()
    penguins()


if __name__ == "__main__":
    main()
