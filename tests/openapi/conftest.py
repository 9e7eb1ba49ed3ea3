"""Compatibility of schemathesis 4.32's lazy pytest loader with pytest 9.2.

``schemathesis.pytest.from_fixture`` reads and rewrites ``item._nodeid`` to name each
operation's subtest; pytest 9.2 keeps the id elsewhere (``Node._id``, read through
``nodeid``) and has no ``_nodeid`` attribute, so every lazy test fails with an
AttributeError before it runs. This gives ``pytest.Function`` a ``_nodeid`` that
reads the real id and ignores the rename: reports keep the test's own id, and the
subtests still carry the operation (``[GET /api/v1/...]``). Remove it once
schemathesis supports pytest 9.2.
"""

from __future__ import annotations

import pytest

if not hasattr(pytest.Function, "_nodeid"):

    def _get(self: pytest.Function) -> str:
        return self.nodeid

    def _set(self: pytest.Function, value: str) -> None:
        """Ignored: the id stays the test's own."""

    pytest.Function._nodeid = property(_get, _set)  # type: ignore[attr-defined]
