"""Every event the code logs is in the catalogue (``flickrhub_core.log_catalogue``), at
the catalogued level, and ``docs/logging.md`` shows the catalogue as it is."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from flickrhub_core import log_catalogue, webhooks
from flickrhub_core.log_catalogue import EVENTS, markdown_table

ROOT = Path(__file__).parents[2]
#: Where FlickrHub's own code logs from.
SOURCES = ("flickrhub_core", "api", "plugins")
LEVELS = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "exception": "error",
    "critical": "error",
}
DOCS = ROOT / "docs" / "logging.md"


@dataclass(frozen=True)
class Site:
    where: str
    name: str
    level: str | None  # None: a level chosen at run time, or a job event (Runtime.emit)


def _receiver_is_a_logger(func: ast.Attribute) -> bool:
    text = ast.unparse(func.value)
    return text.endswith(("log", "logger")) or text.endswith(".log")


def python_files() -> list[Path]:
    files: list[Path] = []
    for top in SOURCES:
        files += [p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts]
    return sorted(files)


def call_sites() -> list[Site]:
    """``log.<level>("name", ...)``, ``emit("name", ...)`` (a level picked at run time,
    or ``Runtime.emit``) and ``_finished(job, previous, "name", ...)`` (the runner's
    job events), with a literal name."""
    sites: list[Site] = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            args = node.args
            if callee == "_finished" and len(args) >= 3:
                literal = args[2]
                level: str | None = None
            elif callee == "emit" and args:
                literal, level = args[0], None
            elif (
                isinstance(func, ast.Attribute)
                and callee in LEVELS
                and args
                and _receiver_is_a_logger(func)
            ):
                literal, level = args[0], LEVELS[func.attr]
            else:
                continue
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                sites.append(Site(where, literal.value, level))
    return sites


SITES = call_sites()


def test_the_scan_finds_the_log_calls() -> None:
    names = {site.name for site in SITES}
    # One of each kind of call site: a plain call, Runtime.emit, the runner, access_log's emit.
    assert {"worker_started", "job_enqueued", "job_completed", "api_request"} <= names
    assert len(SITES) > 40


@pytest.mark.parametrize("site", SITES, ids=lambda s: f"{s.name}@{s.where}")
def test_every_logged_event_is_catalogued_at_its_level(site: Site) -> None:
    spec = EVENTS.get(site.name)
    assert spec is not None, (
        f"{site.where} logs {site.name!r}, which is not in flickrhub_core/log_catalogue.py: "
        "add it there (then run `python -m flickrhub_core.log_catalogue docs/logging.md`)"
    )
    if site.level is not None:
        assert site.level == spec.level, f"{site.where} logs {site.name!r} at {site.level}"


def test_every_catalogued_event_is_logged_somewhere() -> None:
    """No stale entries: each name appears as a string in the code (job events are
    passed around by name, so a string is all the scan can require)."""
    strings: set[str] = set()
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
    assert sorted(set(EVENTS) - strings) == []


def test_webhook_events_are_job_events_of_the_catalogue() -> None:
    for name in webhooks.EVENTS:
        assert EVENTS[name].job


def test_job_events_carry_the_job_ids() -> None:
    for name in ("job_enqueued", "job_started", "job_completed", "flickr_api_call", "cache_hit"):
        assert EVENTS[name].job, name
    assert log_catalogue.JOB_FIELDS == ("job_id", "user_id", "target", "attempt", "trace_id")


def test_docs_show_the_catalogue() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(log_catalogue.START) + len(log_catalogue.START)
    end = text.index(log_catalogue.END)
    assert text[start:end].strip() == markdown_table(), (
        "docs/logging.md is out of date: run `python -m flickrhub_core.log_catalogue "
        "docs/logging.md`"
    )
    for name in EVENTS:
        assert f"`{name}`" in text


def test_rewrite_puts_the_table_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "logging.md"
    page.write_text(f"intro\n{log_catalogue.START}\nold\n{log_catalogue.END}\noutro\n")
    log_catalogue.rewrite(page)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert markdown_table() in text and "old" not in text
