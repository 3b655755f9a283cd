"""``python -m distillery COMMAND REQUEST.json`` — the engine without Node.

Runs one of the engine's commands (``run_experiment``, ``train_teacher``,
``distill``, ``export``, ``doctor``, …) on a request file — e.g. the
``resolved-config.json`` that ``distillery run`` writes, which holds every
default filled in — prints the result as JSON on stdout and progress lines on
stderr. Used for CUDA checks on machines that have Python but no Node.

With a ``distributed`` block in the request (every key written out, as in the
resolved-config.json of ``distillery run --nproc-per-node N``), the command runs
on its ranks through torchrun (distributed.py). ``--nproc-per-node N``,
``--nnodes M``, ``--node-rank R``, ``--master-addr A`` and ``--master-port P``
change the block's keys; a flag left out keeps the block's value. ``--jsonl``
prints progress events and the final envelope as JSON lines on stdout (how
``distillery run`` reads a distributed run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import traceback
from typing import Any

from . import distributed
from .api import COMMANDS, call
from .errors import DistilleryError
from .progress import Progress, Silent
from .spec import ExperimentRequest, parse


def _print_event(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "epoch":
        metrics = event["metrics"]
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, (int, float)))
        print(
            f"[{event['phase']} {event['name']}] epoch {event['epoch']}/{event['epochs']}: {shown}",
            file=sys.stderr,
            flush=True,
        )
    elif kind in ("log", "phase-start", "phase-end"):
        print(f"[{kind}] {json.dumps({k: v for k, v in event.items() if k != 'metrics'})}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m distillery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("request", nargs="?", help="request JSON file ('-' for stdin); none for doctor/hello")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override a top-level key, e.g. --set device='\"cuda\"'",
    )
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help="events and the final {ok, result | error} envelope as JSON lines on stdout",
    )
    group = parser.add_argument_group(
        "distributed (run_experiment, through torchrun): each flag changes a key of the request's distributed block"
    )
    group.add_argument("--nproc-per-node", type=int, help="ranks on this node (one device each)")
    group.add_argument("--nnodes", type=int, help="number of nodes")
    group.add_argument("--node-rank", type=int, help="this node's rank, 0..nnodes-1")
    group.add_argument("--master-addr", help="address of node 0")
    group.add_argument("--master-port", type=int, help="port of node 0's store")
    group.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a rank started by torchrun
    args = parser.parse_args(argv)
    request: dict[str, Any] = {}
    if args.request:
        with sys.stdin if args.request == "-" else open(args.request, encoding="utf8") as handle:
            request = json.load(handle)
    for item in args.set:
        key, _, value = item.partition("=")
        request[key] = json.loads(value)
    if args.worker:
        distributed.exit_worker(_worker(args.command, request, args.jsonl))
    # A flag left out is None: the request's own value stands (the flags have no defaults of their own).
    flags = {
        "nprocPerNode": args.nproc_per_node,
        "nnodes": args.nnodes,
        "nodeRank": args.node_rank,
        "masterAddr": args.master_addr,
        "masterPort": args.master_port,
    }
    if args.command != "run_experiment" and any(value is not None for value in flags.values()):
        return _fail(
            DistilleryError(
                f"--nproc-per-node and the other distributed flags apply to run_experiment, not {args.command}"
            ),
            args.jsonl,
        )
    progress = Progress(_jsonl_event if args.jsonl else _print_event)
    signal.signal(signal.SIGINT, lambda *_: progress.request_cancel())
    try:
        launch = (
            distributed.launch_options(request.get("distributed"), flags) if args.command == "run_experiment" else None
        )
        if launch is not None:
            parse(ExperimentRequest, request)  # a bad request is refused here, once, before any rank starts
            result = distributed.launch(
                args.command, _request_file(args.request, request, bool(args.set)), launch, jsonl=args.jsonl
            )
        else:
            result = call(args.command, request, progress=progress)
    except DistilleryError as error:
        return _fail(error, args.jsonl)
    if args.jsonl:
        distributed.stdout_line({"ok": True, "result": result})
    else:
        print(json.dumps(result, indent=2))
    return 0


def _fail(error: DistilleryError, jsonl: bool) -> int:
    envelope = {"ok": False, "error": error.to_json()}
    if jsonl:
        distributed.stdout_line(envelope)
    else:
        print(json.dumps(envelope), file=sys.stderr)
    return 1


def _jsonl_event(event: dict[str, Any]) -> None:
    distributed.stdout_line(event)


def _request_file(path: str | None, request: dict[str, Any], changed: bool) -> str:
    """The workers read the request from a file: the one given, unless it came on stdin or was changed by --set."""
    if path and path != "-" and not changed:
        return os.path.abspath(path)
    written = os.path.join(tempfile.mkdtemp(prefix="distillery-request-"), "request.json")
    distributed.write_json(written, request)
    return written


def _worker(command: str, request: dict[str, Any], jsonl: bool) -> int:
    """One rank under torchrun: joins the group, runs the command; rank 0 alone reports progress and the result."""
    try:
        # The launcher has parsed the request; this rank reads its device from it and runs it on its own device.
        context, device = distributed.init_worker(parse(ExperimentRequest, request).device)
        progress: Progress = Progress(_jsonl_event if jsonl else _print_event) if context.is_main else Silent()
        result = call(command, {**request, "device": device}, progress=progress)
        distributed.write_result(result)
        distributed.finish_worker()
    except BaseException as error:
        distributed.write_error(error)  # the launcher reports it, once, for the job
        distributed.stop_heartbeat()
        if not isinstance(error, DistilleryError):
            traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
