"""``python -m distillery COMMAND REQUEST.json`` — the engine without Node.

Runs one of the engine's commands (``run_experiment``, ``train_teacher``,
``distill``, ``export``, ``doctor``, …) on a request file — e.g. the
``resolved-config.json`` that ``distillery run`` writes, which holds every
default filled in — prints the result as JSON on stdout and progress lines on
stderr. Used for CUDA checks on machines that have Python but no Node.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from .api import COMMANDS
from .errors import DistilleryError
from .progress import Progress


def _print_event(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "epoch":
        metrics = event["metrics"]
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
        print(f"[{event['phase']} {event['name']}] epoch {event['epoch']}/{event['epochs']}: {shown}", file=sys.stderr, flush=True)
    elif kind in ("log", "phase-start", "phase-end"):
        print(f"[{kind}] {json.dumps({k: v for k, v in event.items() if k != 'metrics'})}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distillery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("request", nargs="?", help="request JSON file ('-' for stdin); none for doctor/hello")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a top-level key, e.g. --set device='\"cuda\"'")
    args = parser.parse_args(argv)
    request: dict[str, Any] = {}
    if args.request:
        with (sys.stdin if args.request == "-" else open(args.request, encoding="utf8")) as handle:
            request = json.load(handle)
    for item in args.set:
        key, _, value = item.partition("=")
        request[key] = json.loads(value)
    progress = Progress(_print_event)
    signal.signal(signal.SIGINT, lambda *_: progress.request_cancel())
    try:
        result = COMMANDS[args.command](request, progress)  # parses the request once (spec.py), then runs it
    except DistilleryError as error:
        print(json.dumps({"ok": False, "error": error.to_json()}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
