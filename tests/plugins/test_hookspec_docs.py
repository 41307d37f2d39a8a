"""Every hook in core/hookspecs.py is documented in docs/plugins.md with its exact signature."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _hookspecs() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, marker)
    }


def _signature(function: Callable[..., Any]) -> str:
    """`def name(param: annotation, ...) -> return`, as written in the source."""
    signature = inspect.signature(function)
    params = ", ".join(
        f"{p.name}: {p.annotation}" if p.annotation is not p.empty else p.name
        for p in signature.parameters.values()
    )
    return f"def {function.__name__}({params}) -> {signature.return_annotation}"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    text = DOCS.read_text()
    specs = _hookspecs()
    assert specs, "no hook specifications found"
    for name, function in specs.items():
        assert f"### {name}\n" in text, f"docs/plugins.md has no section for {name}"
        assert _signature(function) in text, f"docs/plugins.md: {_signature(function)}"
        assert function.__doc__ and "Called" in function.__doc__, f"{name}: say when it is called"


def test_no_documented_hook_is_missing_from_the_specifications() -> None:
    documented = set(re.findall(r"^def (register_\w+|\w+)\(", DOCS.read_text(), re.MULTILINE))
    assert documented == set(_hookspecs())
