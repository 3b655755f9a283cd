"""What the example-table generators share (scripts/tabular-examples.py, scripts/vega-examples.py): the committed
files are gzipped CSV with no time stamp in gzip's header, so every run writes the same bytes."""

import csv
import gzip
import io


def write_gzip_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with open(path, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(text.getvalue().encode("utf8"))
