"""No default of the zod schemas is restated in the engine (issue 11 brought them to zero; this keeps them there).

zod fills every default (src/config); the engine parses complete requests (spec.py) and must not carry a second copy
of any default, which would drift from zod's unseen. The engine's source is read with ``ast`` and every place a
default can hide is checked against zod's defaults (``zod_defaults.json``, generated from the schemas):

* ``x.get("<zod key>", <fallback>)`` — a raw request read with a fallback;
* an ``add_argument("--<zod-key>", default=…)`` flag — a command-line flag must leave the request's value when absent;
* a class-level field named like a zod key with a default other than None (a dataclass restating a block);
* a function parameter named like a zod key whose default is that key's zod default (``opset: int = 18``).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from typing import Any

import pytest

from distillery.spec import camel
from helpers import REPO_ROOT, ZOD_DEFAULTS

ENGINE = os.path.join(REPO_ROOT, "python", "distillery")


def zod_values(block: Any, found: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Every key of the zod defaults (at any depth), with the scalar defaults it takes."""
    if isinstance(block, dict):
        for key, value in block.items():
            found.setdefault(key, [])
            if value is None or isinstance(value, (bool, int, float, str)):
                found[key].append(value)
            zod_values(value, found)
    elif isinstance(block, list):
        for item in block:
            zod_values(item, found)
    return found


ZOD = zod_values(ZOD_DEFAULTS, {})


def is_zod_default(key: str, node: ast.expr) -> bool:
    """Whether ``node`` is a literal equal to one of ``key``'s zod defaults (a bool equals only a bool)."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return False
    return any(
        value == default and isinstance(value, bool) == isinstance(default, bool) for default in ZOD.get(key, [])
    )


def is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def flag_key(flag: str) -> str:
    """``--nproc-per-node`` → ``nprocPerNode``."""
    return camel(flag.lstrip("-").replace("-", "_"))


def restated(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for each restated default in one module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield from _call(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
                    key = camel(item.target.id)
                    if key in ZOD and not is_none(item.value) and not _field_without_default(item.value):
                        yield (
                            item.lineno,
                            f"field {item.target.id} of {node.name} has a default ({ast.unparse(item.value)})",
                        )
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _parameters(node)


def _call(node: ast.Call) -> Iterator[tuple[int, str]]:
    assert isinstance(node.func, ast.Attribute)
    if node.func.attr == "get" and len(node.args) == 2 and isinstance(node.args[0], ast.Constant):
        key = node.args[0].value
        if isinstance(key, str) and key in ZOD and not is_none(node.args[1]):
            yield node.lineno, f'.get("{key}", {ast.unparse(node.args[1])})'
    if node.func.attr == "add_argument":
        flags = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        default = next((keyword.value for keyword in node.keywords if keyword.arg == "default"), None)
        for flag in flags:
            if flag.startswith("-") and flag_key(flag) in ZOD and default is not None and not is_none(default):
                yield node.lineno, f"the flag {flag} has a default ({ast.unparse(default)})"


def _field_without_default(value: ast.expr) -> bool:
    """``dataclasses.field(init=False)`` or ``field(default=None)`` and the like: no default value restated."""
    if not (isinstance(value, ast.Call) and getattr(value.func, "attr", getattr(value.func, "id", None)) == "field"):
        return False
    return all(
        keyword.arg not in ("default", "default_factory") or is_none(keyword.value) for keyword in value.keywords
    )


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[tuple[int, str]]:
    positional = node.args.posonlyargs + node.args.args
    pairs = list(zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults, strict=True))
    pairs += [
        (arg, default)
        for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
        if default is not None
    ]
    for arg, default in pairs:
        key = camel(arg.arg)
        if (
            key in ZOD and not is_none(default) and is_zod_default(key, default)
        ):  # None: "absent", as zod leaves an optional key
            yield node.lineno, f"{node.name}({arg.arg}={ast.unparse(default)})"


def engine_modules() -> Iterator[str]:
    for folder, _, files in os.walk(ENGINE):
        yield from (os.path.join(folder, name) for name in sorted(files) if name.endswith(".py"))


def test_zod_defaults_hold_the_blocks_this_test_guards():
    assert {"experiment", "distributed", "training", "export"} <= set(ZOD_DEFAULTS)
    assert ZOD["device"] == ["auto"] and ZOD["nprocPerNode"] == [1]


@pytest.mark.parametrize("path", list(engine_modules()), ids=lambda path: os.path.relpath(path, ENGINE))
def test_the_engine_restates_no_zod_default(path):
    with open(path, encoding="utf8") as handle:
        found = [f"line {line}: {what}" for line, what in restated(ast.parse(handle.read(), path))]
    assert not found, (
        "zod's defaults are written once, in src/config; the engine gets complete requests:\n" + "\n".join(found)
    )


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ('block.get("nprocPerNode", 1)', '.get("nprocPerNode", 1)'),
        ('parser.add_argument("--device", default="auto")', "the flag --device has a default ('auto')"),
        (
            "@dataclass\nclass Launch:\n    hang_timeout_seconds: float = 10.0",
            "field hang_timeout_seconds of Launch has a default (10.0)",
        ),
        ("def export(path, opset: int = 18): ...", "export(opset=18)"),
    ],
)
def test_each_kind_of_restated_default_is_found(source, what):
    assert [found for _, found in restated(ast.parse(source))] == [what]


@pytest.mark.parametrize(
    "source",
    [
        'block.get("nprocPerNode")',
        'info.get("traceback", "")',
        'parser.add_argument("--nproc-per-node", type=int)',
        "class Objective:\n    where: str = 'method'\n    auxiliary: Any = field(init=False, default=None)",
        "def run(where: str = 'model', device: str = 'cpu', resume: bool = False, preprocess=None): ...",
    ],
)
def test_what_is_not_a_restated_default_passes(source):
    assert list(restated(ast.parse(source))) == []
