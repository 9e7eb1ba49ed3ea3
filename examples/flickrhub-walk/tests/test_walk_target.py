"""The ``walk`` target: paging, limits, progress and request validation."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

import pytest
from fakes import FakeFlickr, Progress

import flickrhub_walk
from flickrhub_core import InvalidRequest, Job, JobError, TargetContext
from flickrhub_core.errors import JobCancelled
from flickrhub_core.plugins import load_plugins
from flickrhub_core.settings import Settings
from flickrhub_walk import WalkTarget

MakeCtx = Callable[..., TargetContext]
SEARCH = "flickr.photos.search"


def photos(n: int) -> list[dict[str, str]]:
    return [{"id": str(i), "title": f"photo {i}"} for i in range(n)]


async def walk(make_ctx: MakeCtx, flickr: Any, params: dict[str, Any], method: str = SEARCH):
    target = WalkTarget()
    flat = target.validate(method, params)
    return await target.execute(make_ctx(flickr, method, flat))


# --- paging --------------------------------------------------------------------------


async def test_walks_every_page_until_the_last(make_ctx: MakeCtx) -> None:
    flickr = FakeFlickr(photos(250))

    result = await walk(make_ctx, flickr, {"user_id": "me", "per_page": 100})

    assert result == {
        "method": SEARCH,
        "items": photos(250),
        "count": 250,
        "pages_fetched": 3,
        "total": 250,
        "truncated": False,
    }
    assert [params["page"] for _, params in flickr.calls] == ["1", "2", "3"]


async def test_sends_the_methods_params_with_page_and_per_page_only(make_ctx: MakeCtx) -> None:
    flickr = FakeFlickr(photos(5))

    await walk(make_ctx, flickr, {"user_id": "me", "extras": "url_m", "max_items": 50})

    assert flickr.calls == [
        (SEARCH, {"user_id": "me", "extras": "url_m", "page": "1", "per_page": "50"})
    ]


async def test_stops_at_max_items_and_says_it_truncated(make_ctx: MakeCtx) -> None:
    flickr = FakeFlickr(photos(1000))

    result = await walk(make_ctx, flickr, {"max_items": 250, "per_page": 100})

    assert result["items"] == photos(250)
    assert result["count"] == 250
    assert result["pages_fetched"] == 3
    assert result["total"] == 1000
    assert result["truncated"] is True


async def test_max_items_that_ends_exactly_at_the_last_item_is_not_truncated(
    make_ctx: MakeCtx,
) -> None:
    result = await walk(make_ctx, FakeFlickr(photos(200)), {"max_items": 200, "per_page": 100})

    assert result["count"] == 200
    assert result["pages_fetched"] == 2
    assert result["truncated"] is False


async def test_asks_for_no_more_per_page_than_max_items(make_ctx: MakeCtx) -> None:
    flickr = FakeFlickr(photos(100))

    result = await walk(make_ctx, flickr, {"max_items": 7, "per_page": 500})

    assert flickr.calls[0][1]["per_page"] == "7"
    assert result["count"] == 7
    assert result["pages_fetched"] == 1


async def test_an_empty_list_is_one_call(make_ctx: MakeCtx) -> None:
    flickr = FakeFlickr([])

    result = await walk(make_ctx, flickr, {})

    assert len(flickr.calls) == 1
    assert result["items"] == []
    assert result["total"] == 0
    assert result["truncated"] is False


async def test_finds_the_list_whatever_the_method_names_it(make_ctx: MakeCtx) -> None:
    sets = [{"id": str(i), "title": {"_content": f"set {i}"}} for i in range(30)]
    flickr = FakeFlickr(sets, container="photosets", member="photoset", as_text=True)

    result = await walk(make_ctx, flickr, {"per_page": 10}, method="flickr.photosets.getList")

    assert result["items"] == sets
    assert result["pages_fetched"] == 3


async def test_ignores_other_members_of_the_answer(make_ctx: MakeCtx) -> None:
    class SetPhotos(FakeFlickr):
        async def call(self, method: str, params: Any) -> dict[str, Any]:
            answer = await super().call(method, params)
            answer["photoset"].update(id="72157", owner="1@N01", title="Trip")
            return answer

    flickr = SetPhotos(photos(3), container="photoset", member="photo")

    result = await walk(make_ctx, flickr, {"photoset_id": "72157"}, "flickr.photosets.getPhotos")

    assert result["items"] == photos(3)


async def test_reports_progress_after_each_page(make_ctx: MakeCtx, progress: Progress) -> None:
    await walk(make_ctx, FakeFlickr(photos(25)), {"per_page": 10})

    assert progress == [
        {"page": 1, "pages": 3, "items": 10},
        {"page": 2, "pages": 3, "items": 20},
        {"page": 3, "pages": 3, "items": 25},
    ]


async def test_a_cancelled_walk_stops_between_pages(make_ctx: MakeCtx) -> None:
    class Cancelling(FakeFlickr):
        async def call(self, method: str, params: Any) -> dict[str, Any]:
            answer = await super().call(method, params)
            ctx.cancel_event.set()  # its owner cancels it during the first page
            return answer

    flickr = Cancelling(photos(25))
    target = WalkTarget()
    ctx = make_ctx(flickr, SEARCH, target.validate(SEARCH, {"per_page": 10}))
    with pytest.raises(JobCancelled):
        await target.execute(ctx)
    assert len(flickr.calls) == 1


@pytest.mark.parametrize(
    "answer",
    [
        {"person": {"id": "1@N01", "username": {"_content": "me"}}, "stat": "ok"},
        {"a": {"page": 1, "pages": 1, "x": []}, "b": {"page": 1, "pages": 1, "y": []}},
        {"photos": {"page": 1, "pages": 1, "photo": [], "also": []}},
        {"photos": {"page": "one", "pages": 1, "photo": []}},
    ],
    ids=["not-a-list", "two-lists", "two-members", "bad-page"],
)
async def test_an_answer_without_one_paginated_list_fails_for_good(
    make_ctx: MakeCtx, answer: dict[str, Any]
) -> None:
    class Odd:
        async def call(self, method: str, params: Any) -> dict[str, Any]:
            return answer

    with pytest.raises(JobError) as info:
        await walk(make_ctx, Odd(), {}, method="flickr.people.getInfo")

    assert info.value.code == "ERR_NOT_PAGINATED"
    assert info.value.retryable is False


# --- validation ----------------------------------------------------------------------


def fields(request: Callable[[], object]) -> list[str]:
    with pytest.raises(InvalidRequest) as info:
        request()
    return [detail["field"] for detail in info.value.details]


def test_fills_in_the_default_limits() -> None:
    flat = WalkTarget().validate(SEARCH, {"tags": "cat"})

    assert flat == {"tags": "cat", "max_items": "500", "per_page": "100"}


def test_a_method_is_required() -> None:
    assert fields(lambda: WalkTarget().validate(None, {})) == ["method"]


@pytest.mark.parametrize("method", ["photos.search", "flickr", "flickr.photos.search; drop"])
def test_a_method_that_is_not_a_flickr_method_is_refused(method: str) -> None:
    assert fields(lambda: WalkTarget().validate(method, {})) == ["method"]


@pytest.mark.parametrize("method", ["flickr.photos.delete", "flickr.photosets.create"])
def test_write_methods_are_refused(method: str) -> None:
    assert fields(lambda: WalkTarget().validate(method, {})) == ["method"]


@pytest.mark.parametrize("value", [0, -1, 5001, "ten", "1.5", "²"])
def test_max_items_must_be_from_1_to_5000(value: object) -> None:
    assert fields(lambda: WalkTarget().validate(SEARCH, {"max_items": value})) == [
        "params.max_items"
    ]


@pytest.mark.parametrize("value", [0, 501, "many"])
def test_per_page_must_be_from_1_to_500(value: object) -> None:
    assert fields(lambda: WalkTarget().validate(SEARCH, {"per_page": value})) == ["params.per_page"]


@pytest.mark.parametrize("name", ["page", "format", "oauth_token", "api_key"])
def test_params_the_walker_sets_are_refused(name: str) -> None:
    assert fields(lambda: WalkTarget().validate(SEARCH, {name: "1"})) == [f"params.{name}"]


def test_walk_is_an_idempotent_read_that_is_never_cached() -> None:
    target = WalkTarget()
    job = Job(user_id="u1", target="walk", method=SEARCH)

    assert target.idempotent is True
    assert target.is_write(job) is False
    assert target.cache_ttl(job, Settings(_env_file=None)) is None


# --- the plugin ----------------------------------------------------------------------


def test_the_plugin_registers_the_walk_target() -> None:
    plugins = load_plugins([], found=[], extra=[("walk", flickrhub_walk)])

    assert list(plugins.targets()) == ["walk"]
    assert plugins.infos[0].version == "0.1.0"


def test_the_installed_package_declares_its_entry_point() -> None:
    try:
        dist = distribution("flickrhub-walk")
    except PackageNotFoundError:
        pytest.skip("flickrhub-walk is not installed (pip install -e examples/flickrhub-walk)")
    walk_points = [ep for ep in dist.entry_points if ep.group == "flickrhub"]

    assert [(ep.name, ep.value) for ep in walk_points] == [("walk", "flickrhub_walk")]
