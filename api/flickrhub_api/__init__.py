"""FlickrHub's HTTP API: a Quart application over a :class:`~flickrhub_core.runtime.Runtime`."""

from flickrhub_api.app import create_app

__all__ = ["create_app"]
