"""The plain-Python side of bench/bridge.mjs: runs the engine's ``distill`` command on a request file through the
public API (``api.call``), in this process, with no progress sink, and prints {"result": …, "wallSeconds": …} as
JSON. The request file is complete (the facade's zod-parsed options). Not meant to be run by hand."""

from __future__ import annotations

import json
import sys
import time

from distillery import api

with open(sys.argv[1], encoding="utf8") as handle:
    request = json.load(handle)
started = time.perf_counter()
result = api.call("distill", request)
wall = time.perf_counter() - started
import torch  # noqa: E402

print(json.dumps({"result": result, "wallSeconds": wall, "threads": torch.get_num_threads()}))
