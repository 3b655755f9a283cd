"""The method registry: what each method's loss is, what it needs, and what its loss terms are called.

A method is one module in this package. It defines its options as a frozen
dataclass subclassing ``spec.MethodOptions`` (the fields of its zod schema
entry in src/config/methods.ts, snake_case) and registers a ``Method`` with
its loss function. Whether it needs a teacher or labels, and which tasks it
serves, is declared once, in the zod entry; ``npm run docs`` copies those
traits into contract.json beside this file, which ``register`` reads. The
training loop only ever calls ``loss(options, inputs)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Optional, TypeVar

import torch
from torch import nn

from ..errors import ConfigError
from ..spec import MethodOptions

Terms = dict[str, torch.Tensor]
OptionsT = TypeVar("OptionsT", bound=MethodOptions)


@dataclass(frozen=True)
class LossInputs:
    """One batch, as every loss sees it. ``teacher`` is None for methods that need no teacher, ``labels`` for an
    unlabelled transfer set; ``epoch`` (0-based) and ``epochs`` let a loss warm a term up."""

    student: torch.Tensor
    teacher: Optional[torch.Tensor]
    labels: Optional[torch.Tensor]
    task: str
    epoch: int
    epochs: int
    # What the method's ``prepare`` built (e.g. a feature method's connector and layer taps); None for the others.
    auxiliary: Optional[nn.Module] = None


@dataclass(frozen=True)
class Preparation:
    """What a method that reaches inside the networks (a feature method) gets before training: the student, the
    teacher as a torch module, a small batch to trace shapes with, and the config path for its errors."""

    student: nn.Module
    teacher: nn.Module
    sample: torch.Tensor
    where: str


@dataclass(frozen=True)
class Traits:
    needs_teacher: bool
    needs_labels: bool
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Method(Generic[OptionsT]):
    name: str
    options: type[OptionsT]
    loss: Callable[[OptionsT, LossInputs], tuple[torch.Tensor, Terms]]
    terms: tuple[str, ...]
    traits: Traits
    # Builds the method's trainable auxiliary module (its parameters join the optimiser, its state the epoch state
    # file; it is never exported). Only feature methods have one; they get the teacher online, as a torch module.
    prepare: Optional[Callable[[OptionsT, Preparation], nn.Module]] = None

    @property
    def needs_teacher(self) -> bool:
        return self.traits.needs_teacher

    @property
    def needs_labels(self) -> bool:
        return self.traits.needs_labels


_CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contract.json")
_METHODS: dict[str, Method[MethodOptions]] = {}


def _contract() -> dict[str, Traits]:
    with open(_CONTRACT_FILE, encoding="utf8") as handle:
        raw = json.load(handle)
    return {
        name: Traits(entry["needsTeacher"], entry["needsLabels"], tuple(entry["tasks"])) for name, entry in raw.items()
    }


def register(
    name: str,
    options: type[OptionsT],
    loss: Callable[[OptionsT, LossInputs], tuple[torch.Tensor, Terms]],
    terms: tuple[str, ...],
    traits: Optional[Traits] = None,
    prepare: Optional[Callable[[OptionsT, Preparation], nn.Module]] = None,
) -> Method[OptionsT]:
    """Adds a method. Its traits come from its zod entry (contract.json); ``traits`` is only for methods that have no
    zod entry, such as a test's or a plugin's, which the TypeScript side cannot send anyway."""
    if name in _METHODS:
        raise ValueError(f"method '{name}' is registered twice")
    declared = _contract().get(name)
    if declared is None and traits is None:
        raise ValueError(f"method '{name}' has no entry in src/config/methods.ts (run `npm run docs` after adding one)")
    method: Method[OptionsT] = Method(name, options, loss, terms, traits or declared, prepare)  # type: ignore[arg-type]
    _METHODS[name] = method  # type: ignore[assignment]
    return method


def unregister(name: str) -> None:
    _METHODS.pop(name, None)


def method_for(options: MethodOptions, where: str = "method") -> Method[MethodOptions]:
    try:
        return _METHODS[options.type]
    except KeyError:
        raise ConfigError(
            f"{where}.type: unknown method '{options.type}' (known: {', '.join(sorted(_METHODS))})",
            field=f"{where}.type",
        ) from None


def names() -> list[str]:
    return sorted(_METHODS)


def check_task(options: MethodOptions, task: str, where: str) -> Method[MethodOptions]:
    """The method's entry, after checking it serves the data's task."""
    method = method_for(options, where)
    if task not in method.traits.tasks:
        raise ConfigError(
            f"{where}.type: '{method.name}' does not apply to {task} data (it serves {', '.join(method.traits.tasks)})",
            field=f"{where}.type",
        )
    return method
