"""Every hook is documented with its exact signature in docs/hooks.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from flickrhub_core import hookspecs

DOCS = (Path(__file__).parents[2] / "docs" / "hooks.md").read_text()
HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "flickrhub_spec")
]


def test_there_are_hooks() -> None:
    assert "register_targets" in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name: str) -> None:
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({params})`" in DOCS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_docstring(name: str) -> None:
    assert (getattr(hookspecs, name).__doc__ or "").strip()
