"""The web UI served by the API: the OAuth wizard and the dashboard (DESIGN §6).

Server-rendered Jinja pages with autoescaping, one stylesheet and one small script
under ``flickrhub_api/static/``; see :mod:`flickrhub_api.ui.routes` for the pages.
"""

from __future__ import annotations

from flickrhub_api.ui.routes import blueprint

__all__ = ["blueprint"]
