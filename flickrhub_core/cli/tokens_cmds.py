"""``flickrhub tokens``: the connected accounts at rest and the key that encrypts them.

``new-key`` prints a fresh Fernet key. ``rotate-key`` re-encrypts every stored
token with the newest key of ``FLICKRHUB_SECRET_KEY``: set it to ``new,old``
everywhere, rotate, then drop ``old``. ``list`` shows the connected accounts
(never a token or secret). Both work on the configured token store: the
commands build a runtime as ``flickrhub run`` would, so the plugins open it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from flickrhub_core.broker import MemoryBroker
from flickrhub_core.cli.app import cli, settings_of
from flickrhub_core.crypto import KEY_FILE, has_secret_key, new_key
from flickrhub_core.errors import ConfigError
from flickrhub_core.logs import configure_logging
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.stores import StoredToken
from flickrhub_core.token_crypto import LegacyTokenStore, ListingTokenStore, RotatingTokenStore

T = TypeVar("T")


@cli.group()
def tokens() -> None:
    """Connected accounts at rest: list them, make and rotate the encryption key."""


@tokens.command("new-key")
def new_key_cmd() -> None:
    """Print a new Fernet key for FLICKRHUB_SECRET_KEY (put it first to rotate)."""
    click.echo(new_key())


@tokens.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored token with the newest key of FLICKRHUB_SECRET_KEY.

    Set FLICKRHUB_SECRET_KEY="NEW,OLD" for every process, run this, then remove
    OLD. Tokens stored before encryption are encrypted too. All or nothing: a
    token no key decrypts stops it with nothing changed.
    """
    settings = settings_of()

    async def work(runtime: Runtime) -> tuple[int, int]:
        store = runtime.tokens
        if not isinstance(store, RotatingTokenStore):
            raise ConfigError(
                f"the token store in use ({type(store).__name__}) cannot re-encrypt its tokens"
            )
        return await store.rotate(runtime.keyring)

    rotated, current = _with_runtime(settings, work)
    click.echo(f"Re-encrypted {rotated} token(s) with the newest key; {current} already current.")
    if not has_secret_key(settings):
        click.echo(f"Key: {settings.data_dir / KEY_FILE} (FLICKRHUB_SECRET_KEY is unset).")


@tokens.command("import-legacy")
@click.option(
    "--owner",
    default="default",
    show_default=True,
    help="The API client (FLICKRHUB_API_KEYS name) the accounts are given to.",
)
def import_legacy(owner: str) -> None:
    """Rewrite the earlier system's token documents in FlickrHub's shape, encrypted.

    Until then they are read as accounts of the default owner, their secrets in
    plain text. Each keeps its user_id, so the ids clients hold keep working; one
    without its own app gets FLICKR_API_KEY's, which the earlier worker signed with.
    """

    async def work(runtime: Runtime) -> int:
        store = runtime.tokens
        if not isinstance(store, LegacyTokenStore):
            raise ConfigError(
                f"the token store in use ({type(store).__name__}) holds no earlier-system "
                "tokens (they are in MongoDB: set MONGO_URL)"
            )
        return await store.import_legacy(owner)

    imported = _with_runtime(settings_of(), work)
    click.echo(f"Imported {imported} token(s) of the earlier system for owner {owner!r}.")


@tokens.command("list")
@click.option("--owner", default=None, help="Only this API client's accounts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(owner: str | None, as_json: bool) -> None:
    """List the connected Flickr accounts (never a token or secret)."""

    async def work(runtime: Runtime) -> list[StoredToken]:
        store = runtime.tokens
        if owner is not None:
            return await store.list(owner)
        if not isinstance(store, ListingTokenStore):
            raise ConfigError(
                f"the token store in use ({type(store).__name__}) lists one owner at a time: "
                "pass --owner"
            )
        return await store.list_all()

    rows = [_row(token) for token in _with_runtime(settings_of(), work)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No connected accounts.")
        return
    columns = ("owner", "user_id", "user_nsid", "username", "perms", "connected_at")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip())


def _row(token: StoredToken) -> dict[str, Any]:
    return {"owner": token.owner, **token.public_view()}


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` on a started runtime of this installation (plugins' stores open)."""
    # Warnings and errors only: a command's own output is on stdout, logs on stderr.
    level = settings.log_level if settings.log_level in ("warning", "error") else "warning"
    configure_logging(
        level=level,
        fmt=settings.log_format,
        service=settings.service_name,
        env=settings.service_env,
    )

    async def main() -> T:
        # Only the token store is needed: no broker connection (RABBIT_URL) is made.
        runtime = Runtime.create(settings, role="embedded", broker=MemoryBroker())
        await runtime.start()
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())
