"""Settings: the earlier system's names, FLICKRHUB_* for new ones, one-line errors."""

from __future__ import annotations

import pytest

from flickrhub_core.errors import ConfigError
from flickrhub_core.settings import load_settings


def test_earlier_system_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4000")
    monkeypatch.setenv("JOB_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("CACHE_ENABLED", "false")
    monkeypatch.setenv("OAUTH_MODE", "CALLBACK")
    s = load_settings()
    assert (s.port, s.job_retry_attempts, s.cache_enabled, s.oauth_mode) == (
        4000,
        5,
        False,
        "callback",
    )


def test_flickrhub_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLICKRHUB_PLUGINS", "rest, local")
    monkeypatch.setenv("FLICKRHUB_CACHE_TTLS", '{"flickr.photos.search": 60}')
    s = load_settings()
    assert s.plugin_allowlist == ["rest", "local"]
    assert s.cache_ttl_for("flickr.photos.search") == 60
    assert s.cache_ttl_for("flickr.people.getInfo") == 300


def test_dotenv_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PORT=4321\nSERVICE_NAME=from-dotenv\n")
    s = load_settings()
    assert (s.port, s.service_name) == (4321, "from-dotenv")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "abc", "invalid setting PORT"),
        ("JOB_RETRY_ATTEMPTS", "0", "invalid setting JOB_RETRY_ATTEMPTS"),
        ("FLICKR_REST_URL", "ftp://x", "invalid setting FLICKR_REST_URL"),
        ("OAUTH_MODE", "sometimes", "invalid setting OAUTH_MODE"),
    ],
)
def test_invalid_value_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_redacted_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLICKR_API_KEY", "k")
    monkeypatch.setenv("FLICKR_API_SECRET", "very-secret")
    monkeypatch.setenv("MONGO_URL", "mongodb://user:pw@db/x")
    monkeypatch.setenv("OBS_API_KEY", "obs-secret")
    shown = load_settings().redacted()
    assert shown["FLICKR_API_SECRET"] == "********"
    assert shown["MONGO_URL"] == "********"
    assert shown["OBS_API_KEY"] == "********"
    assert "very-secret" not in repr(shown)


def test_api_key_without_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLICKR_API_KEY", "k")
    monkeypatch.delenv("FLICKR_API_SECRET", raising=False)
    with pytest.raises(ConfigError, match="FLICKR_API_SECRET"):
        load_settings()
