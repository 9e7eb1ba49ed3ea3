"""``GET /__config.js``, the earlier system's route R2: where the API is reachable, as
a line of JavaScript a page can load."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from flickrhub_api import create_app
from flickrhub_api.routes.config_js import config_script
from flickrhub_core.runtime import Runtime
from tests.api.conftest import Client

CONFIG_JS = "/__config.js"


async def test_it_sets_api_base_to_the_origin_the_request_reached(client: Client) -> None:
    response = await client.get(CONFIG_JS)
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert await response.get_data(as_text=True) == 'window.API_BASE = "http://localhost";\n'


async def test_the_origin_keeps_its_scheme_and_port(client: Client) -> None:
    response = await client.get(CONFIG_JS, scheme="https", headers={"Host": "hub.test:8443"})
    assert await response.get_data(as_text=True) == 'window.API_BASE = "https://hub.test:8443";\n'


async def test_a_request_without_a_usable_host_gets_the_earlier_systems_default(
    client: Client, rt: Runtime
) -> None:
    response = await client.get(CONFIG_JS, headers={"Host": 'x";alert(1);//'})
    expected = f'window.API_BASE = "http://localhost:{rt.settings.port}";\n'
    assert await response.get_data(as_text=True) == expected


@pytest.mark.parametrize(
    "base", ['https://x";alert(1);//', "https://a\\b", "https://\u2028</script>"]
)
def test_the_base_url_is_written_as_an_escaped_string_literal(base: str) -> None:
    script = config_script(base)
    literal = script.removeprefix("window.API_BASE = ").removesuffix(";\n")
    assert json.loads(literal) == base
    assert literal.isascii()
    assert literal.count('"') - literal.count('\\"') == 2


async def test_it_needs_no_api_key(make_runtime: Callable[..., Runtime]) -> None:
    app = create_app(make_runtime(api_keys=SecretStr("docs=config-js-test-key")))
    async with app.test_app():
        response = await app.test_client().get(CONFIG_JS)
    assert response.status_code == 200


async def test_it_is_not_in_the_openapi_document(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert CONFIG_JS not in spec["paths"]
