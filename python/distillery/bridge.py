"""The pythonia entry point: ``invoke(command, request_json, on_event)`` → response JSON.

Responses are envelopes — ``{"ok": true, "result": …}`` or ``{"ok": false,
"error": {type, message, field, file, details, traceback}}`` — because
pythonia's own exceptions reach Node with an empty message. Importing this
module also sets up the process for life under Node:

* stdout is pointed at stderr (fd level, so C libraries too): Node's stdout
  must stay clean for ``--json`` output;
* SIGINT is ignored: Ctrl-C goes to Node, which cancels us with SIGUSR1 —
  the flag is checked between batches — so a run stops cleanly;
* a watchdog exits if the parent Node process disappears, so no orphan
  keeps training.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Optional

sys.stdout.flush()
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

from .errors import DistilleryError
from .progress import Progress

_progress = Progress()
_PARENT = os.getppid()


def _on_cancel_signal(_signum: int, _frame: Any) -> None:
    _progress.request_cancel()


def _watch_parent() -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != _PARENT:
            os._exit(3)


if hasattr(signal, "SIGUSR1"):
    signal.signal(signal.SIGUSR1, _on_cancel_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
threading.Thread(target=_watch_parent, name="distillery-parent-watchdog", daemon=True).start()


def invoke(command: str, request_json: str, on_event: Optional[Callable[[str], Any]] = None) -> str:
    """Runs one engine command. Never raises: failures come back as an error envelope."""
    _progress.sink = (lambda event: on_event(json.dumps(event))) if on_event is not None else None
    _progress._cancel_requested = False  # a signal that arrived between calls must not cancel this one
    try:
        from .api import COMMANDS  # imports torch: a missing torch is reported like any other error

        if command not in COMMANDS:
            raise DistilleryError(f"unknown engine command '{command}'", field="command")
        result = COMMANDS[command](json.loads(request_json), _progress)
        return json.dumps({"ok": True, "result": result})
    except DistilleryError as error:
        return json.dumps({"ok": False, "error": {**error.to_json(), "traceback": traceback.format_exc()}})
    except Exception as error:
        return json.dumps({"ok": False, "error": {
            "type": type(error).__name__, "message": str(error) or type(error).__name__, "field": None, "file": None,
            "details": {}, "traceback": traceback.format_exc(),
        }})
    finally:
        _progress.sink = None


