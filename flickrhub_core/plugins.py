"""Plugin discovery and the one typed facade through which the core calls hooks.

Plugins are modules named by entry points in the ``flickrhub`` group, built-ins
and third parties alike. ``FLICKRHUB_PLUGINS`` narrows the set; an unknown name
or a plugin that fails to import is a one-line :class:`PluginError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from flickrhub_core import hookspecs
from flickrhub_core.errors import PluginError
from flickrhub_core.targets import TARGET_NAME, Target

if TYPE_CHECKING:
    from flickrhub_core.events import JobEvent
    from flickrhub_core.runtime import Runtime
    from flickrhub_core.stores import (
        BlobStore,
        Cache,
        JobArchive,
        JobStore,
        RateLimiter,
        RequestTokenStore,
        TokenStore,
    )

GROUP = "flickrhub"
T = TypeVar("T")


async def await_maybe(value: T | Awaitable[T]) -> T:
    """Hook implementations may return awaitables; this is the one place we await them."""
    if inspect.isawaitable(value):
        return await value
    return value


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    module: str
    hooks: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "module": self.module,
            "hooks": list(self.hooks),
        }


class Plugins:
    """Loaded plugins and typed access to their hooks. Never call ``pm.hook`` elsewhere."""

    def __init__(self, pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
        self.pm = pm
        self.infos = infos

    # --- registration ----------------------------------------------------------------

    def targets(self) -> dict[str, Target]:
        """Collect every plugin's targets, rejecting bad and duplicate names."""
        found: dict[str, Target] = {}
        owners: dict[str, str] = {}
        for impl in self.pm.hook.register_targets.get_hookimpls():
            plugin_name = impl.plugin_name

            def register(target: Target, _plugin: str = plugin_name) -> None:
                if not isinstance(target, Target):
                    raise PluginError(f"plugin {_plugin!r} registered a non-Target: {target!r}")
                name = getattr(target, "name", "")
                if not isinstance(name, str) or not TARGET_NAME.match(name):
                    raise PluginError(f"plugin {_plugin!r} registered a bad target name {name!r}")
                if name in found:
                    raise PluginError(
                        f"target {name!r} is registered by both {owners[name]!r} and {_plugin!r}"
                    )
                found[name] = target
                owners[name] = _plugin

            impl.function(register=register)
        return found

    # --- backends (firstresult) ------------------------------------------------------

    def cache_backend(self, runtime: Runtime) -> Cache | None:
        return self.pm.hook.cache_backend(runtime=runtime)  # type: ignore[no-any-return]

    def job_store(self, runtime: Runtime) -> JobStore | None:
        return self.pm.hook.job_store(runtime=runtime)  # type: ignore[no-any-return]

    def token_store(self, runtime: Runtime) -> TokenStore | None:
        return self.pm.hook.token_store(runtime=runtime)  # type: ignore[no-any-return]

    def blob_store(self, runtime: Runtime) -> BlobStore | None:
        return self.pm.hook.blob_store(runtime=runtime)  # type: ignore[no-any-return]

    def request_token_store(self, runtime: Runtime) -> RequestTokenStore | None:
        return self.pm.hook.request_token_store(runtime=runtime)  # type: ignore[no-any-return]

    def job_archive(self, runtime: Runtime) -> JobArchive | None:
        return self.pm.hook.job_archive(runtime=runtime)  # type: ignore[no-any-return]

    def rate_limiter(self, runtime: Runtime) -> RateLimiter | None:
        return self.pm.hook.rate_limiter(runtime=runtime)  # type: ignore[no-any-return]

    # --- events ----------------------------------------------------------------------

    async def job_event(self, runtime: Runtime, event: JobEvent) -> list[BaseException]:
        """Broadcast; returns the listeners' exceptions instead of raising them."""
        failures: list[BaseException] = []
        offered = {"runtime": runtime, "event": event}
        for impl in reversed(self.pm.hook.job_event.get_hookimpls()):
            try:
                # Like pluggy, pass only the arguments an implementation asks for.
                await await_maybe(impl.function(**{a: offered[a] for a in impl.argnames}))
            except Exception as exc:
                failures.append(exc)
        return failures

    def log_event(self, event: dict[str, Any]) -> None:
        self.pm.hook.log_event(event=event)

    async def startup(self, runtime: Runtime) -> None:
        for impl in reversed(self.pm.hook.startup.get_hookimpls()):
            await await_maybe(impl.function(runtime=runtime))

    async def shutdown(self, runtime: Runtime) -> None:
        for impl in self.pm.hook.shutdown.get_hookimpls():
            await await_maybe(impl.function(runtime=runtime))


def load_plugins(
    allowlist: list[str] | None = None,
    *,
    found: Iterable[EntryPoint] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> Plugins:
    """Load the enabled plugins.

    ``found`` replaces entry-point discovery (tests pass their own list so they never
    auto-load installed third-party plugins); ``extra`` registers ``(name, module_or_object)``
    pairs directly, as tests and embedders do.
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    available = {ep.name: ep for ep in (entry_points(group=GROUP) if found is None else found)}
    if allowlist is not None:
        unknown = [name for name in allowlist if name not in available]
        if unknown:
            installed = ", ".join(sorted(available)) or "none"
            raise PluginError(
                f"unknown plugin {unknown[0]!r} in FLICKRHUB_PLUGINS (installed: {installed})"
            )
    infos: list[PluginInfo] = []
    for name, ep in sorted(available.items()):
        if allowlist is not None and name not in allowlist:
            continue
        try:
            module = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}"
            ) from None
        version = ep.dist.version if ep.dist is not None else _module_version(module)
        _register(pm, name, module)
        infos.append(PluginInfo(name, version, ep.value, _hooks_of(pm, module)))
    for name, obj in extra:
        _register(pm, name, obj)
        module_name = obj.__name__ if isinstance(obj, ModuleType) else type(obj).__name__
        infos.append(PluginInfo(name, _module_version(obj), module_name, _hooks_of(pm, obj)))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin has an unknown hook: {exc}") from None
    return Plugins(pm, infos)


def _register(pm: pluggy.PluginManager, name: str, obj: object) -> None:
    try:
        pm.register(obj, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from None


def _hooks_of(pm: pluggy.PluginManager, obj: object) -> tuple[str, ...]:
    callers = pm.get_hookcallers(obj) or []
    return tuple(sorted(caller.name for caller in callers))


def _module_version(obj: object) -> str:
    return str(getattr(obj, "__version__", "unknown"))
