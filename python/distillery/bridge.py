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

# The running call's progress: SIGUSR1 cancels through it. Each call gets a fresh one, so a signal that arrived
# between calls (aimed at a call that had already ended) cannot cancel the next.
_current = Progress()
_PARENT = os.getppid()


def _on_cancel_signal(_signum: int, _frame: Any) -> None:
    _current.request_cancel()


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
    """Runs one engine command through ``api.call``. Never raises: failures come back as an error envelope."""
    global _current
    _current = Progress((lambda event: on_event(json.dumps(event))) if on_event is not None else None)
    try:
        from .api import call  # imports torch: a missing torch is reported like any other error

        return json.dumps({"ok": True, "result": call(command, json.loads(request_json), progress=_current)})
    except Exception as error:
        return json.dumps({"ok": False, "error": _error_info(error)})
    finally:
        _current = Progress()  # lets go of Node's callback; a signal from now on lands on an idle progress object


def _error_info(error: Exception) -> dict[str, Any]:
    """The envelope's error (src/engine/errors.ts, PythonErrorInfo): a DistilleryError names its field and file;
    any other exception is reported by its type and message."""
    if isinstance(error, DistilleryError):
        info = error.to_json()
    else:
        info = {
            "type": type(error).__name__,
            "message": str(error) or type(error).__name__,
            "field": None,
            "file": None,
            "details": {},
        }
    return {**info, "traceback": traceback.format_exc()}
