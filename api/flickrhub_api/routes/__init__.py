"""The API's blueprints, one module per group of routes."""

from __future__ import annotations

from flickrhub_api.routes.accounts import blueprint as accounts
from flickrhub_api.routes.admin import blueprint as admin
from flickrhub_api.routes.auth import blueprint as auth
from flickrhub_api.routes.batches import blueprint as batches
from flickrhub_api.routes.config_js import blueprint as config_js
from flickrhub_api.routes.health import blueprint as health
from flickrhub_api.routes.jobs import blueprint as jobs
from flickrhub_api.routes.photos import blueprint as photos

BLUEPRINTS = (auth, accounts, jobs, batches, photos, admin, health, config_js)

__all__ = ["BLUEPRINTS"]
