"""A Flickr argument as the text FlickrHub sends: what the earlier system's JavaScript
sent (``String(value)``), except booleans, which Flickr reads as 1/0."""

from __future__ import annotations

import pytest

from flickrhub_core.targets import param_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("cat", "cat"),
        ("", ""),
        (10, "10"),
        (2.0, "2"),
        (-0.0, "0"),
        (45.5, "45.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (True, "1"),
        (False, "0"),
        (["url_m", "owner_name"], "url_m,owner_name"),
        ([1, 2.0, True, "x"], "1,2,1,x"),
        ([], ""),
    ],
)
def test_a_value_is_sent_as_javascript_would_write_it(value: object, text: str) -> None:
    assert param_text(value) == text


@pytest.mark.parametrize("value", [None, {}, {"a": 1}, [["a"]], ["a", None], [{"a": 1}]])
def test_objects_nested_arrays_and_nulls_have_no_text(value: object) -> None:
    assert param_text(value) is None
