"""The third-party example in ``examples/flickrhub-walk`` loads like any installed plugin.

It is not installed in the development environment (so the suite never auto-loads
it); its entry point is given here, with its directory on ``sys.path``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from flickrhub_core.plugins import load_plugins
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings

EXAMPLE = Path(__file__).parents[1] / "examples" / "flickrhub-walk"


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    try:
        yield
    finally:
        for name in [m for m in sys.modules if m.partition(".")[0] == "flickrhub_walk"]:
            del sys.modules[name]


@pytest.mark.usefixtures("example_on_path")
def test_the_example_plugin_loads_from_its_entry_point_and_adds_the_walk_target(
    settings: Settings,
) -> None:
    found = [EntryPoint(name="walk", value="flickrhub_walk", group="flickrhub")]

    plugins = load_plugins(["walk"], found=found)
    runtime = Runtime.create(settings, plugins=plugins)

    assert [(info.name, info.version, info.hooks) for info in plugins.infos] == [
        ("walk", "0.1.0", ("register_targets",))
    ]
    assert list(runtime.targets) == ["walk"]
    assert runtime.target("walk").queue == "flickr_walk"
