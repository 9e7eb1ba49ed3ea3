"""Helpers shared by tests: plugin sets built explicitly (never auto-loaded)."""

from __future__ import annotations

import flickrhub_replace
import flickrhub_rest
import flickrhub_upload
from flickrhub_core.plugins import Plugins, load_plugins

BUILTIN_TARGETS = [
    ("rest", flickrhub_rest),
    ("upload", flickrhub_upload),
    ("replace", flickrhub_replace),
]


def builtin_plugins(*extra: tuple[str, object]) -> Plugins:
    """The built-in targets plus ``extra``, without looking at installed entry points."""
    return load_plugins([], found=[], extra=[*BUILTIN_TARGETS, *extra])
