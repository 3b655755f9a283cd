"""Progress events and cancellation.

Events go to a sink (the TypeScript callback through the bridge, or stderr
for ``python -m distillery``). Step events are throttled to a few per second
because every bridge call costs a round trip; epoch and phase events always
go through. Cancellation is a flag checked between batches: it is set by
SIGUSR1 (sent by the engine on abort) or by the sink returning true.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Optional

from .errors import Cancelled

Sink = Callable[[dict[str, Any]], Any]


class Progress:
    def __init__(self, sink: Optional[Sink] = None, min_interval_s: float = 0.25) -> None:
        self.sink = sink
        self.min_interval_s = min_interval_s
        self._last_emit = 0.0
        self._cancel_requested = False

    def request_cancel(self) -> None:
        """Asks the running command to stop at its next check (between batches); it then raises Cancelled."""
        self._cancel_requested = True

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def check_cancel(self) -> None:
        if self._cancel_requested:
            raise Cancelled()

    def emit(self, event: dict[str, Any], *, force: bool = True) -> None:
        """Sends an event; with ``force=False`` it is dropped if one went out less than ``min_interval_s`` ago."""
        now = time.monotonic()
        if not force and now - self._last_emit < self.min_interval_s:
            return
        self._last_emit = now
        if self.sink is not None and self.sink(event):
            self.request_cancel()

    def step_due(self) -> bool:
        """Whether a step event would go out now — so callers only build one (a GPU sync for the loss) when it will."""
        return self.sink is not None and time.monotonic() - self._last_emit >= self.min_interval_s

    def step(self, **event: Any) -> None:
        self.emit({"event": "step", **event}, force=False)


class Silent(Progress):
    """A progress object that reports nothing (tests, nested calls)."""

    def __init__(self) -> None:
        super().__init__(None)
