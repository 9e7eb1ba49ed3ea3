"""`.env.example` documents every setting, and is itself a valid configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from flickrhub_core.settings import Settings, env_names

EXAMPLE = Path(__file__).parents[2] / ".env.example"
NAMES = env_names()


def documented() -> dict[str, str]:
    pairs = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_is_in_env_example(name: str) -> None:
    assert name in documented()


def test_env_example_names_only_real_settings() -> None:
    assert set(documented()) <= set(NAMES)


def test_env_example_loads_as_the_defaults() -> None:
    loaded = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    assert loaded.rabbit_url is None
    assert loaded.flickr_api_key is None
    assert loaded.redacted() == Settings(_env_file=None).redacted()  # type: ignore[call-arg]
