"""Shared setup for the engine's tests: puts python/ on sys.path, keeps torch to the test machine's cores,
and provides a tiny in-memory data set (builders live in helpers.py)."""

from __future__ import annotations

import os
import sys

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_ROOT = os.path.dirname(PYTHON_DIR)
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
for folder in (PYTHON_DIR, TESTS_DIR):
    if folder not in sys.path:
        sys.path.insert(0, folder)

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

from helpers import tiny_bundle  # noqa: E402


@pytest.fixture
def bundle():
    return tiny_bundle()
