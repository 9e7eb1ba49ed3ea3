"""Start nx-27017 (a MongoDB wire-protocol server over SQLite) for the tests.

Run as ``python -m tests.mongo.nx_launcher --data-dir DIR --port N ...``: every
argument goes to ``nx_27017``. Before that, neosqlite's SQL fast path for updates
is turned off (``SqlUpdatesMixin._can_use_sql_updates`` answers False), because it
stores a top-level ``$set`` of a datetime as a string and of a bool as an int; the
Python path it falls back to keeps their types. This touches a private class, so
``nx-27017`` and ``neosqlite`` are pinned exactly in the dev dependency group.
"""

from __future__ import annotations

from typing import Any


def _no_sql_updates(*_args: Any, **_kwargs: Any) -> bool:
    return False


def main() -> None:
    from neosqlite.collection.query_helper._sql_updates import (  # type: ignore[import-untyped]
        SqlUpdatesMixin,
    )
    from nx_27017 import nx_27017  # type: ignore[import-untyped]

    SqlUpdatesMixin._can_use_sql_updates = _no_sql_updates
    nx_27017.main()


if __name__ == "__main__":
    main()
