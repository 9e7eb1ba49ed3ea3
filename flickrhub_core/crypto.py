"""Secrets at rest: access tokens and webhook secrets are stored Fernet-encrypted.

Keys come from ``FLICKRHUB_SECRET_KEY`` (comma-separated Fernet keys, newest
first: the first encrypts, all decrypt, so keys can be rotated). In the embedded
mode, without that setting, a key is generated once into
``<FLICKRHUB_DATA_DIR>/secret.key`` with 0600 permissions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from flickrhub_core.errors import ConfigError
from flickrhub_core.settings import Settings

KEY_FILE = "secret.key"
#: Marks an encrypted value, so plain values written before encryption are recognised.
PREFIX = "fernet:"


class Keyring:
    """Encrypts with the newest key and decrypts with any of them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("FLICKRHUB_SECRET_KEY holds no key")
        try:
            self._fernets = [Fernet(key.strip().encode()) for key in keys]
        except (ValueError, TypeError):
            raise ConfigError(
                "FLICKRHUB_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), "
                "comma separated; make one with `flickrhub tokens new-key`"
            ) from None
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Keyring:
        """The configured keys, or the embedded mode's key file (made on first use)."""
        if settings.secret_key is not None and has_secret_key(settings):
            return cls(settings.secret_key.get_secret_value().split(","))
        path = settings.data_dir / KEY_FILE
        try:
            if not path.exists():
                if not create:
                    raise ConfigError(f"no FLICKRHUB_SECRET_KEY and no key file at {path}")
                with contextlib.suppress(FileExistsError):  # made meanwhile: use that one
                    _write_private(path, Fernet.generate_key())
            return cls([path.read_text().strip()])
        except OSError as exc:
            raise ConfigError(
                f"FLICKRHUB_DATA_DIR {str(settings.data_dir)!r} is not usable for the key "
                f"file: {exc.strerror or type(exc).__name__}"
            ) from None

    def encrypt(self, value: str) -> str:
        return PREFIX + self._multi.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        """Decrypt a stored value; a plain (never encrypted) value is returned as is."""
        if not value.startswith(PREFIX):
            return value
        try:
            return self._multi.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise _undecryptable() from None

    def rotate(self, value: str) -> str:
        """Re-encrypt with the newest key (plain values get encrypted)."""
        if not value.startswith(PREFIX):
            return self.encrypt(value)
        try:
            return PREFIX + self._multi.rotate(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise _undecryptable() from None

    def is_current(self, value: str) -> bool:
        """Whether ``value`` is already encrypted with the newest key."""
        if not value.startswith(PREFIX):
            return False
        try:
            self._fernets[0].decrypt(value[len(PREFIX) :].encode())
        except InvalidToken:
            return False
        return True


def has_secret_key(settings: Settings) -> bool:
    """Whether ``FLICKRHUB_SECRET_KEY`` is set (else the embedded mode's key file is used)."""
    return settings.secret_key is not None and bool(settings.secret_key.get_secret_value().strip())


def _undecryptable() -> ConfigError:
    return ConfigError(
        "a stored secret cannot be decrypted with FLICKRHUB_SECRET_KEY "
        "(was a key removed before rotation finished?)"
    )


def new_key() -> str:
    return Fernet.generate_key().decode()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data + b"\n")
