"""Atomic file writes and well-known folders.

Every artefact (checkpoint, .onnx, cache, dataset) is written to a
temporary file in the destination folder and renamed into place, so a crash
never leaves a half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Optional

import numpy as np

from .errors import OutputError


@contextlib.contextmanager
def atomic_path(final_path: str) -> Iterator[str]:
    """Yields a temporary path next to ``final_path``; renames it there on success, deletes it on failure."""
    folder = os.path.dirname(os.path.abspath(final_path))
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(final_path), dir=folder)
        os.close(handle)
    except OSError as error:
        raise _output_error(error, final_path) from error
    try:
        yield temporary
        # mkstemp creates the file 0600; give the artefact the mode any newly created file gets (0666 & ~umask)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, final_path)
    except OSError as error:
        _remove_quietly(temporary)
        raise _output_error(error, final_path) from error
    except BaseException:
        _remove_quietly(temporary)
        raise


@contextlib.contextmanager
def atomic_folder(final_path: str) -> Iterator[str]:
    """Yields a temporary folder next to ``final_path`` (a folder, e.g. a saved Hugging Face model); on success it
    replaces ``final_path``, on failure it is deleted: a folder under the final name is always complete."""
    folder = os.path.dirname(os.path.abspath(final_path))
    try:
        os.makedirs(folder, exist_ok=True)
        temporary = tempfile.mkdtemp(prefix=".tmp-", suffix="-" + os.path.basename(final_path), dir=folder)
    except OSError as error:
        raise _output_error(error, final_path) from error
    try:
        yield temporary
        shutil.rmtree(final_path, ignore_errors=True)
        os.replace(temporary, final_path)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise _output_error(error, final_path) from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _output_error(error: OSError, path: str) -> OutputError:
    reason = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "read-only file system",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "it exists and is not a folder",
    }.get(error.errno or 0, error.strerror or str(error))
    return OutputError(f"cannot write {path}: {reason}", file=path)


def ensure_writable_dir(folder: str, field: str = "outDir") -> None:
    """Creates ``folder`` and proves it writable (a file is created and removed) before any work starts,
    so an unusable output folder fails at once, as an OutputError naming the field — not after training.
    (Root ignores permission bits, so this really writes instead of checking the mode.)"""
    try:
        os.makedirs(folder, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".tmp-", suffix="-probe", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        output_error = _output_error(error, folder)
        raise OutputError(f"{field}: {output_error.message}", field=field, file=folder) from error


def remove_stale_temporaries(folder: str) -> list[str]:
    """Deletes the ``.tmp-*`` files a killed process left under ``folder`` (a SIGKILL skips every cleanup);
    returns their paths. Only names this module and the TypeScript writers give their temporaries."""
    removed: list[str] = []
    if not os.path.isdir(folder):
        return removed
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.startswith(".tmp-"):
                path = os.path.join(root, name)
                _remove_quietly(path)
                removed.append(path)
    return removed


def atomic_write(final_path: str, write: Callable[[str], Any]) -> None:
    with atomic_path(final_path) as temporary:
        write(temporary)


def atomic_torch_save(final_path: str, value: Any) -> None:
    """torch.save, atomically. Serialised in memory first, then written with a plain file write: torch's own zip
    writer reports a full disk (or a file-size limit) as a RuntimeError ("unexpected pos …"), which would escape as
    a traceback; a plain write raises OSError, which becomes an OutputError naming the file."""
    import io as in_memory

    import torch

    buffer = in_memory.BytesIO()
    torch.save(value, buffer)
    atomic_write(final_path, lambda temporary: write_bytes(temporary, buffer.getbuffer()))


def write_bytes(temporary: str, data: Any) -> None:
    """The one place serialised bytes meet the disk (a test makes it find the disk full)."""
    with open(temporary, "wb") as handle:
        handle.write(data)


def atomic_save_npz(final_path: str, **arrays: np.ndarray) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub takes **kwds for allow_pickle's slot

    atomic_write(final_path, write)


def find_upwards(start: str, relative: str) -> Optional[str]:
    folder = os.path.abspath(start)
    while True:
        candidate = os.path.join(folder, relative)
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def cache_dir() -> str:
    """DISTILLERY_CACHE_DIR, else <home>/cache, home being DISTILLERY_HOME, else $XDG_CACHE_HOME/distillery,
    else ~/.cache/distillery (as src/engine/environment.ts): never inside the package or node_modules."""
    explicit = os.environ.get("DISTILLERY_CACHE_DIR")
    if explicit:
        return explicit
    home = os.environ.get("DISTILLERY_HOME")
    if home:
        return os.path.join(os.path.abspath(home), "cache")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "distillery", "cache")


def file_sha256(path: str) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
