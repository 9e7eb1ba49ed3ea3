"""Developer sessions: ``uvx nox -s tests lint typecheck``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHON = "3.11"


def _sync(session: nox.Session) -> None:
    """Install the project and its dev group into the session's venv, as uv run does."""
    session.run_install(
        "uv",
        "sync",
        "--group",
        "dev",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (the README's test command runs the same)."""
    _sync(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    _sync(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def wheel(session: nox.Session) -> None:
    """Build the wheel, install it in a clean venv and check the CLI starts."""
    session.run("uv", "build", "--wheel", "--out-dir", "dist", external=True)
    session.install(*sorted(str(p) for p in __import__("pathlib").Path("dist").glob("*.whl")))
    session.run("flickrhub", "plugins")
