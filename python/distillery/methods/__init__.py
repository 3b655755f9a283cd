"""Distillation methods: one module each, registered in ``registry`` (see its docstring).

Importing this package imports every method module in it, so a new module is
found without being listed anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil

from .registry import (
    LossInputs,
    Method,
    Preparation,
    Terms,
    Traits,
    check_task,
    method_for,
    names,
    register,
    unregister,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "LossInputs",
    "Method",
    "Preparation",
    "Terms",
    "Traits",
    "check_task",
    "method_for",
    "names",
    "register",
    "unregister",
]
