"""The three-legged OAuth dance: request token, authorize page/scripted approval, access token."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from sandbox_helpers import Credentials, oauth_dance, rest, signed

from flickrhub_core.flickr import Credentials as FlickrCredentials
from flickrhub_core.flickr import Endpoints, FlickrClient
from flickrhub_core.sandbox.library import nsid_for_username
from flickrhub_core.sandbox.testing import SandboxServer

TOKEN = re.compile(r"^\d{17}-[0-9a-f]{16}$")
SECRET = re.compile(r"^[0-9a-f]{16}$")


def request_token(
    http: httpx.Client, sandbox: SandboxServer, callback: str = "oob"
) -> dict[str, str]:
    key, secret = sandbox.consumer
    response = signed(
        http,
        Credentials(key, secret),
        "GET",
        f"{sandbox.oauth_url}/request_token",
        {},
        callback_uri=callback,
    )
    assert response.status_code == 200, response.text
    return dict(parse_qsl(response.text))


def access_token_response(
    http: httpx.Client, sandbox: SandboxServer, token: dict[str, str], verifier: str
) -> httpx.Response:
    key, secret = sandbox.consumer
    pending = Credentials(key, secret, token["oauth_token"], token["oauth_token_secret"])
    return signed(http, pending, "POST", f"{sandbox.oauth_url}/access_token", {}, verifier=verifier)


def scripted_approve(
    http: httpx.Client, sandbox: SandboxServer, token: str, **form: str
) -> httpx.Response:
    return http.post(
        f"{sandbox.oauth_url}/authorize",
        data={"oauth_token": token, "perms": "write", "approve": "1", **form},
        headers={"X-Sandbox-Approve": "1"},
    )


def test_request_token_has_flickr_shape(sandbox: SandboxServer, http: httpx.Client) -> None:
    key, secret = sandbox.consumer
    response = signed(
        http,
        Credentials(key, secret),
        "POST",
        f"{sandbox.oauth_url}/request_token",
        {},
        callback_uri="oob",
    )
    assert response.headers["content-type"] == "text/plain;charset=UTF-8"
    assert list(dict(parse_qsl(response.text))) == [
        "oauth_callback_confirmed",
        "oauth_token",
        "oauth_token_secret",
    ]
    fields = dict(parse_qsl(response.text))
    assert fields["oauth_callback_confirmed"] == "true"
    assert TOKEN.match(fields["oauth_token"])
    assert SECRET.match(fields["oauth_token_secret"])


def test_request_token_without_callback_is_parameter_absent(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    key, secret = sandbox.consumer
    response = signed(
        http, Credentials(key, secret), "GET", f"{sandbox.oauth_url}/request_token", {}
    )
    assert response.status_code == 400
    assert response.text == "oauth_problem=parameter_absent&oauth_parameters_absent=oauth_callback"


def test_full_dance_yields_token_that_logs_in(sandbox: SandboxServer, http: httpx.Client) -> None:
    key, secret = sandbox.consumer
    creds = oauth_dance(http, sandbox.base_url, key, secret, perms="read")
    assert TOKEN.match(creds.token or "")
    assert (creds.user_nsid, creds.username) == ("78733179@N04", "@janko-m")
    login = rest(http, creds, sandbox.base_url, "flickr.test.login")
    assert login == {
        "user": {"id": "78733179@N04", "username": {"_content": "@janko-m"}},
        "stat": "ok",
    }


def test_access_token_response_is_percent_encoded_like_flickr(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    token = request_token(http, sandbox)
    verifier = scripted_approve(http, sandbox, token["oauth_token"]).json()["oauth_verifier"]
    response = access_token_response(http, sandbox, token, verifier)
    assert response.headers["content-type"] == "text/plain;charset=UTF-8"
    assert response.text.startswith("fullname=Janko%20Marohni%C4%87&oauth_token=")
    assert response.text.endswith("&user_nsid=78733179%40N04&username=%40janko-m")


def test_scripted_approval_answers_json(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    answer = scripted_approve(http, sandbox, token["oauth_token"]).json()
    assert set(answer) == {"oauth_token", "oauth_verifier", "callback"}
    assert answer["oauth_token"] == token["oauth_token"]
    assert SECRET.match(answer["oauth_verifier"])
    assert answer["callback"] is None


def test_json_accept_header_also_gets_json_with_csrf(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    token = request_token(http, sandbox, callback="http://127.0.0.1:9/cb")
    page = http.get(
        f"{sandbox.oauth_url}/authorize",
        params={"oauth_token": token["oauth_token"], "perms": "read"},
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = http.post(
        f"{sandbox.oauth_url}/authorize",
        data={
            "oauth_token": token["oauth_token"],
            "perms": "read",
            "approve": "1",
            "csrf": csrf.group(1),
        },
        headers={"Accept": "application/json"},
    ).json()
    assert answer["callback"].startswith("http://127.0.0.1:9/cb?oauth_token=")


def test_authorize_page_shows_key_perms_and_a_csrf_form(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    token = request_token(http, sandbox)
    page = http.get(
        f"{sandbox.oauth_url}/authorize",
        params={"oauth_token": token["oauth_token"], "perms": "delete"},
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert sandbox.consumer[0] in page.text
    assert '<strong id="perms">delete</strong>' in page.text
    assert 'method="post" action="/services/oauth/authorize"' in page.text
    assert re.search(r'name="csrf" value="[^"]{16,}"', page.text)
    assert 'name="deny"' in page.text


def test_authorize_page_escapes_what_it_echoes(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    page = http.get(
        f"{sandbox.oauth_url}/authorize",
        params={"oauth_token": token["oauth_token"], "perms": "<b>"},
    )
    assert page.status_code == 400
    assert "<b>" not in page.text


def test_authorize_unknown_token_is_400(sandbox: SandboxServer, http: httpx.Client) -> None:
    page = http.get(
        f"{sandbox.oauth_url}/authorize", params={"oauth_token": "nope", "perms": "read"}
    )
    assert page.status_code == 400
    assert "Invalid request token" in page.text


def test_browser_approval_redirects_to_callback_keeping_its_query(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    token = request_token(http, sandbox, callback="http://127.0.0.1:9/done?state=abc")
    page = http.get(
        f"{sandbox.oauth_url}/authorize",
        params={"oauth_token": token["oauth_token"], "perms": "write"},
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    response = http.post(
        f"{sandbox.oauth_url}/authorize",
        data={
            "oauth_token": token["oauth_token"],
            "perms": "write",
            "approve": "1",
            "csrf": csrf.group(1),
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.path == "/done"
    query = parse_qsl(location.query)
    assert query[0] == ("state", "abc")
    assert query[1] == ("oauth_token", token["oauth_token"])
    assert query[2][0] == "oauth_verifier"


def test_oob_browser_approval_shows_verifier(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    page = http.get(
        f"{sandbox.oauth_url}/authorize",
        params={"oauth_token": token["oauth_token"], "perms": "read"},
    )
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    response = http.post(
        f"{sandbox.oauth_url}/authorize",
        data={
            "oauth_token": token["oauth_token"],
            "perms": "read",
            "approve": "1",
            "csrf": csrf.group(1),
        },
    )
    match = re.search(r'<span id="verifier">([0-9a-f]{16})</span>', response.text)
    assert match is not None
    assert access_token_response(http, sandbox, token, match.group(1)).status_code == 200


def test_approval_without_csrf_or_script_header_is_refused(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    token = request_token(http, sandbox)
    response = http.post(
        f"{sandbox.oauth_url}/authorize",
        data={"oauth_token": token["oauth_token"], "perms": "read", "approve": "1"},
    )
    assert response.status_code == 403


def test_wrong_verifier_is_verifier_invalid(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    scripted_approve(http, sandbox, token["oauth_token"])
    response = access_token_response(http, sandbox, token, "0000000000000000")
    assert response.status_code == 401
    assert response.text == "oauth_problem=verifier_invalid"


def test_unapproved_token_cannot_be_exchanged(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    response = access_token_response(http, sandbox, token, "0000000000000000")
    assert response.text == "oauth_problem=verifier_invalid"


def test_request_token_is_single_use(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    verifier = scripted_approve(http, sandbox, token["oauth_token"]).json()["oauth_verifier"]
    assert access_token_response(http, sandbox, token, verifier).status_code == 200
    again = access_token_response(http, sandbox, token, verifier)
    assert again.status_code == 401
    assert again.text == "oauth_problem=token_rejected"


def test_unknown_request_token_is_token_rejected(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    fake = {"oauth_token": "72157000000000000-0000000000000000", "oauth_token_secret": "0" * 16}
    response = access_token_response(http, sandbox, fake, "0" * 16)
    assert (response.status_code, response.text) == (401, "oauth_problem=token_rejected")


def test_denied_token_is_rejected(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    http.post(
        f"{sandbox.oauth_url}/authorize",
        data={"oauth_token": token["oauth_token"], "perms": "read", "deny": "1"},
        headers={"X-Sandbox-Approve": "1"},
    )
    assert (
        access_token_response(http, sandbox, token, "0" * 16).text == "oauth_problem=token_rejected"
    )


def test_expired_request_token_is_rejected(make_sandbox: Any, http: httpx.Client) -> None:
    sandbox = make_sandbox(request_token_ttl_s=1)
    token = request_token(http, sandbox)
    verifier = scripted_approve(http, sandbox, token["oauth_token"]).json()["oauth_verifier"]
    time.sleep(1.2)
    response = access_token_response(http, sandbox, token, verifier)
    assert (response.status_code, response.text) == (401, "oauth_problem=token_rejected")


def test_username_field_picks_a_stable_made_up_user(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    key, secret = sandbox.consumer
    first = oauth_dance(http, sandbox.base_url, key, secret, username="alice")
    second = oauth_dance(http, sandbox.base_url, key, secret, username="alice")
    assert first.user_nsid == second.user_nsid == nsid_for_username("alice")
    assert re.match(r"^\d{8}@N01$", first.user_nsid or "")
    assert first.token != second.token
    login = rest(http, first, sandbox.base_url, "flickr.test.login")
    assert login["user"]["username"] == {"_content": "alice"}


def test_access_tokens_remember_perms(sandbox: SandboxServer, http: httpx.Client) -> None:
    key, secret = sandbox.consumer
    creds = oauth_dance(http, sandbox.base_url, key, secret, perms="delete")
    answer = rest(
        http, creds, sandbox.base_url, "flickr.auth.oauth.checkToken", oauth_token=creds.token or ""
    )
    assert answer["oauth"]["perms"] == {"_content": "delete"}


def test_check_token_without_oauth_token_argument_is_98(
    sandbox: SandboxServer, http: httpx.Client, writer: Credentials
) -> None:
    # The token travels in the Authorization header only, as flickrapi's token_valid()
    # sends it (sybrenstuvel/flickrapi#123).
    answer = rest(http, writer, sandbox.base_url, "flickr.auth.oauth.checkToken")
    assert answer == {"stat": "fail", "code": 98, "message": "Invalid token"}


async def test_flickrhub_client_checks_its_users_token(
    sandbox: SandboxServer, writer: Credentials
) -> None:
    endpoints = Endpoints(
        rest_url=sandbox.rest_url,
        upload_url=sandbox.upload_url,
        replace_url=sandbox.replace_url,
        oauth_url=sandbox.oauth_url,
    )
    creds = FlickrCredentials(writer.key, writer.secret, writer.token, writer.token_secret)
    async with FlickrClient(endpoints) as client:
        answer = await client.call(creds, "flickr.auth.oauth.checkToken", {})
    oauth = answer["oauth"]
    assert oauth["token"] == {"_content": writer.token}
    assert oauth["perms"] == {"_content": "write"}
    assert (oauth["user"]["nsid"], oauth["user"]["username"]) == (
        writer.user_nsid,
        writer.username,
    )


def test_scripted_approval_accepts_a_json_body(sandbox: SandboxServer, http: httpx.Client) -> None:
    token = request_token(http, sandbox)
    response = http.post(
        f"{sandbox.oauth_url}/authorize",
        json={"oauth_token": token["oauth_token"], "perms": "read", "approve": "1"},
        headers={"X-Sandbox-Approve": "1"},
    )
    verifier = response.json()["oauth_verifier"]
    assert access_token_response(http, sandbox, token, verifier).status_code == 200
