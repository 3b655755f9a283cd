"""The plain-Python side of bench/bridge.mjs: runs distillery.api.distill on a request file, in this process, with no
progress sink, and prints {"result": …, "wallSeconds": …} as JSON. Not meant to be run by hand."""

from __future__ import annotations

import json
import sys
import time

from distillery import api
from distillery.progress import Progress

with open(sys.argv[1], encoding="utf8") as handle:
    request = json.load(handle)
started = time.perf_counter()
result = api.distill(request, Progress(None))
wall = time.perf_counter() - started
import torch  # noqa: E402

print(json.dumps({"result": result, "wallSeconds": wall, "threads": torch.get_num_threads()}))
