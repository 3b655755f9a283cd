"""io.py: atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from distillery.errors import OutputError
from distillery.io import atomic_save_npz, atomic_write


def test_atomic_write_renames_into_place(tmp_path):
    final = tmp_path / "deep" / "er" / "file.txt"
    atomic_write(str(final), lambda temporary: Path(temporary).write_text("hello"))
    assert final.read_text() == "hello"
    assert os.listdir(final.parent) == ["file.txt"]


def test_atomic_write_failure_leaves_nothing_and_keeps_the_old_file(tmp_path):
    final = tmp_path / "file.txt"
    final.write_text("old")

    def fail(temporary):
        with open(temporary, "w") as handle:
            handle.write("half")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        atomic_write(str(final), fail)
    assert final.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_written_files_get_the_usual_permissions(tmp_path):
    """Artefacts are created like any file (0666 & ~umask), not 0600 as mkstemp leaves them."""
    previous = os.umask(0o022)
    try:
        atomic_save_npz(str(tmp_path / "a.npz"), x=np.zeros(3))
        atomic_write(str(tmp_path / "b.txt"), lambda temporary: Path(temporary).write_text("x"))
    finally:
        os.umask(previous)
    for name in ("a.npz", "b.txt"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644, name


def test_unwritable_destination_raises_output_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    final = str(blocker / "out.onnx")
    with pytest.raises(OutputError) as caught:
        atomic_write(final, lambda temporary: None)
    assert caught.value.file == final
