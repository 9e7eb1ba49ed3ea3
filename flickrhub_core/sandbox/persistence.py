"""Keep the sandbox's accounts and access tokens across restarts (``SandboxConfig.state_path``).

The embedded mode stores its users' access tokens durably; without this file those
tokens would point at nothing after a restart. Only what a restart must not lose is
saved: users and access tokens (secrets included, so the file is written with mode
0600, atomically). Photos, request tokens, nonces and rate-limit windows start fresh.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .library import Library, User
from .tokens import AccessToken, TokenStore

FORMAT_VERSION = 1


def save_state(path: Path, library: Library, tokens: TokenStore) -> None:
    data = {
        "version": FORMAT_VERSION,
        "users": [
            {
                "nsid": u.nsid,
                "username": u.username,
                "realname": u.realname,
                "internal_id": u.internal_id,
            }
            for u in library.users.values()
        ],
        "access_tokens": [
            {
                "token": t.token,
                "secret": t.secret,
                "consumer_key": t.consumer_key,
                "user_nsid": t.user_nsid,
                "perms": t.perms,
                "revoked": t.revoked,
            }
            for t in tokens.access_tokens.values()
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".sandbox-state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: Path, library: Library, tokens: TokenStore) -> None:
    """Restore users and tokens saved by :func:`save_state`; a missing file is a fresh start."""
    if not path.exists():
        return
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        for row in data["users"]:
            library.users.setdefault(row["nsid"], User(**row))
        for row in data["access_tokens"]:
            tokens.access_tokens[row["token"]] = AccessToken(**row)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a readable sandbox state file ({exc}); delete it to start afresh"
        ) from exc
