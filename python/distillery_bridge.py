"""Loader for the pythonia bridge.

pythonia imports a file by path and puts its folder on sys.path; loading this
file (which lives next to the ``distillery`` package) makes the package
importable without touching PYTHONPATH, then re-exports the bridge.
"""

from distillery.bridge import invoke  # noqa: F401


def _number_objects_past_earlier_processes() -> None:
    """pythonia numbers the objects Python and Node share (the callbacks Node passes, …) from 0 in every Python
    process, while Node keeps its table for the whole Node process: after a restart (close() or a crash, then a
    new Engine), the late garbage collection of an earlier process's callback deletes the new callback of the
    same number, and the next progress event fails ("this.m[ffid] is not a function"). Starting this process's
    numbers at a clock-based value (ms * 1000, below 2**53) keeps them apart from every earlier process's."""
    import time

    import __main__

    shared = getattr(__main__, "bridge", None)  # pythonia's interface.py runs as __main__ and holds the Bridge
    if shared is not None and isinstance(getattr(shared, "cur_ffid", None), int):
        shared.cur_ffid = max(shared.cur_ffid, int(time.time() * 1000) * 1000)


_number_objects_past_earlier_processes()
