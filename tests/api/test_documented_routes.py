"""Every ``/api/v1/...`` route the README and docs/ name is one the API serves, with
the method they give it: a renamed or mistyped route in the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

from quart import Quart

ROOT = Path(__file__).parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: ``GET /api/v1/flickr/jobs/{id}``, or a bare path; a query string or "…" ends it.
MENTION = re.compile(r"(?:\b(GET|POST|PUT|PATCH|DELETE) )?(/api/v1/[A-Za-z0-9_./{}<>-]*)")
#: A parameter as docs write it ({id}, <job_id>) or as Werkzeug does (<path:name>).
PARAMETER = re.compile(r"\{[^}/]*\}|<[^>/]*>")


def mentions() -> list[tuple[str, str | None, str]]:
    """(where, method or None, path) of every route the documents name."""
    found = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text().splitlines(), start=1):
            for method, path in MENTION.findall(line):
                found.append((f"{document.name}:{number}", method or None, path.rstrip(".")))
    return found


def served(app: Quart) -> list[tuple[re.Pattern[str], set[str]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        literal = [re.escape(part) for part in PARAMETER.split(rule.rule)]
        routes.append((re.compile("[^/]+".join(literal)), set(rule.methods or ())))
    return routes


def test_the_documents_name_routes() -> None:
    assert len(mentions()) > 20  # the pattern still finds them


def test_every_documented_api_route_is_served_with_its_method(app: Quart) -> None:
    routes = served(app)
    wrong = []
    for where, method, path in mentions():
        concrete = PARAMETER.sub("x", path)
        methods = set().union(*(m for pattern, m in routes if pattern.fullmatch(concrete)))
        if not methods or (method is not None and method not in methods):
            wrong.append(f"{where}: {method or ''} {path}".replace(":  ", ": "))
    assert wrong == []
