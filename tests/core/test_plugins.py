"""The plugin system: discovery, the allow-list, and the one-line errors."""

from __future__ import annotations

import types
from collections.abc import Callable
from importlib.metadata import EntryPoint

import pytest

from flickrhub_core import Target, TargetContext, hookimpl
from flickrhub_core.errors import PluginError
from flickrhub_core.plugins import load_plugins
from flickrhub_core.runtime import Runtime
from flickrhub_core.settings import Settings
from flickrhub_core.stores import StoredToken
from tests.helpers import BUILTIN_TARGETS, builtin_plugins


class EchoTarget(Target):
    name = "echo"

    async def execute(self, ctx: TargetContext) -> object:
        return {"echo": ctx.job.params}


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


def registering(*targets: Target) -> Callable[..., None]:
    @hookimpl
    def register_targets(register: Callable[[Target], None]) -> None:
        for target in targets:
            register(target)

    return register_targets


def test_builtin_targets_are_registered() -> None:
    assert sorted(builtin_plugins().targets()) == ["replace", "rest", "upload"]


def test_a_plugin_adds_a_target() -> None:
    plugins = builtin_plugins(
        ("echo", plugin_module("echo", register_targets=registering(EchoTarget())))
    )
    assert "echo" in plugins.targets()


def test_duplicate_target_names_are_refused_naming_both_plugins() -> None:
    plugins = builtin_plugins(
        ("first", plugin_module("first", register_targets=registering(EchoTarget()))),
        ("second", plugin_module("second", register_targets=registering(EchoTarget()))),
    )
    with pytest.raises(PluginError, match="'echo' is registered by both 'first' and 'second'"):
        plugins.targets()


def test_bad_target_name_is_refused() -> None:
    class Bad(EchoTarget):
        name = "Bad Name"

    plugins = builtin_plugins(("bad", plugin_module("bad", register_targets=registering(Bad()))))
    with pytest.raises(PluginError, match="bad target name"):
        plugins.targets()


def test_unknown_plugin_in_allowlist_is_one_line_error() -> None:
    found = [EntryPoint(name="rest", value="flickrhub_rest", group="flickrhub")]
    with pytest.raises(PluginError) as info:
        load_plugins(["nope"], found=found)
    assert "\n" not in str(info.value)
    assert "unknown plugin 'nope'" in str(info.value)
    assert "installed: rest" in str(info.value)


def test_plugin_that_fails_to_import_is_named() -> None:
    found = [EntryPoint(name="broken", value="flickrhub_no_such_module", group="flickrhub")]
    with pytest.raises(PluginError, match="plugin 'broken' failed to import: ModuleNotFoundError"):
        load_plugins(None, found=found)


def test_allowlist_selects_the_enabled_set() -> None:
    found = [
        EntryPoint(name=name, value=module.__name__, group="flickrhub")
        for name, module in BUILTIN_TARGETS
    ]
    plugins = load_plugins(["rest"], found=found)
    assert [info.name for info in plugins.infos] == ["rest"]
    assert list(plugins.targets()) == ["rest"]


def test_misspelled_hook_is_a_startup_error() -> None:
    @hookimpl
    def register_target(register: object) -> None:  # missing the final "s"
        pass

    with pytest.raises(PluginError, match="unknown hook"):
        load_plugins(
            [], found=[], extra=[("typo", plugin_module("typo", register_target=register_target))]
        )


def test_plugin_info_lists_hooks() -> None:
    plugins = builtin_plugins()
    rest = next(info for info in plugins.infos if info.name == "rest")
    assert rest.hooks == ("register_targets",)
    assert rest.as_dict()["module"] == "flickrhub_rest"


async def test_job_event_listener_failure_is_reported_not_raised() -> None:
    @hookimpl
    def job_event(event: object) -> None:
        raise RuntimeError("archive down")

    plugins = builtin_plugins(("flaky", plugin_module("flaky", job_event=job_event)))
    failures = await plugins.job_event(object(), object())  # type: ignore[arg-type]
    assert [str(f) for f in failures] == ["archive down"]


async def test_async_job_event_listeners_are_awaited() -> None:
    seen: list[object] = []

    @hookimpl
    def job_event(event: object) -> object:
        async def record() -> None:
            seen.append(event)

        return record()

    plugins = builtin_plugins(("archive", plugin_module("archive", job_event=job_event)))
    marker = object()
    await plugins.job_event(object(), marker)  # type: ignore[arg-type]
    assert seen == [marker]


class TokenStoreBeforeOwner:
    """A token store written before ``TokenStore.owner`` existed."""

    async def get(self, user_id: str) -> StoredToken | None:
        return None

    async def find_account(
        self, owner: str, consumer_key: str, user_nsid: str
    ) -> StoredToken | None:
        return None

    async def put(self, token: StoredToken) -> None:
        pass

    async def delete(self, user_id: str) -> bool:
        return False

    async def list(self, owner: str) -> list[StoredToken]:
        return []


def test_a_token_store_without_owner_stops_the_start(settings: Settings) -> None:
    @hookimpl
    def token_store(runtime: Runtime) -> object:
        return TokenStoreBeforeOwner()

    plugins = builtin_plugins(("old_tokens", plugin_module("old_tokens", token_store=token_store)))

    with pytest.raises(PluginError, match=r"TokenStoreBeforeOwner has no owner\(user_id\)"):
        Runtime.create(settings, plugins=plugins)
