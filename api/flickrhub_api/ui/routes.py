"""The web UI's pages: home, the OAuth wizard, the dashboard, a job's detail, and
signing in when API keys are configured.

Pages are Jinja templates with autoescaping; the wizard and every button are plain
HTML forms, so all of it works without JavaScript. ``static/ui.js`` only adds the
Copy buttons and the dashboard's live refresh (from ``/ui/dashboard.json``, rendered
with DOM text nodes). No inline script or style: the CSP stays ``default-src 'self'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from quart import (
    Blueprint,
    Response,
    current_app,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from quart_schema import hide
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers.response import Response as Redirect

from flickrhub_api.context import authenticated_owner, get_runtime
from flickrhub_api.envelope import envelope, request_id
from flickrhub_api.errors import ErrorReply, error_response, is_refused_verifier, report
from flickrhub_api.limits import ClientRateLimiter, retry_after_seconds
from flickrhub_api.models import AuthStartRequest
from flickrhub_api.routes.auth import PENDING_TTL, begin_auth, finish_auth
from flickrhub_api.ui.access import SignInRequired, bind_owner, keys_enabled, sign_in
from flickrhub_api.ui.replay import replay_dead_letters
from flickrhub_api.ui.session import (
    CSRF_FIELD,
    check_csrf,
    current_session,
    load_session,
    save_session,
)
from flickrhub_api.ui.views import (
    STATE_ICONS,
    STATE_ORDER,
    DashboardFilters,
    dashboard_data,
    job_detail,
)
from flickrhub_api.validation import parse_model
from flickrhub_core import __version__
from flickrhub_core.errors import NotFound, TooManyRequests

__all__ = ["blueprint"]

blueprint = Blueprint("ui", __name__)

#: Sign-in attempts per minute, for the whole process (API keys cannot be guessed
#: at any useful rate then; the UI's paths are outside the per-client limit).
LOGIN_ATTEMPTS_PER_MINUTE = 30
_LOGIN_LIMITER_KEY = "flickrhub.ui.login_limiter"
#: What the wizard says instead of an error code a person cannot act on.
_FRIENDLY = {
    "ERR_INVALID_STATE": "This authorisation request is unknown, has expired or was already "
    "used. Start again from step 1.",
}
#: Flickr refused the verifier; the authorisation is still pending.
REFUSED_VERIFIER = "Flickr did not accept this verifier code. Check it and paste it again."
HTML = "text/html; charset=utf-8"
#: A page, or a redirect (``quart.redirect`` makes Werkzeug's response).
Answer = Response | Redirect


@dataclass(frozen=True)
class Problem:
    """An error as a page shows it: sentences, never an object dump."""

    message: str
    fields: dict[str, str] = field(default_factory=dict)
    code: str = ""
    status: int = 400


# --- request plumbing ---------------------------------------------------------------


@blueprint.before_request
async def _open_session() -> None:
    bind_owner(load_session())


@blueprint.after_request
async def _close_session(response: Response) -> Response:
    return save_session(response)


@blueprint.app_context_processor
def _globals() -> dict[str, Any]:
    """What the shared layout needs (the OAuth callback page uses it too)."""
    if not has_request_context():
        return {"ui_version": __version__}
    return {
        "ui_version": __version__,
        "ui_api_base": request.host_url.rstrip("/"),
        "ui_keys_enabled": keys_enabled(),
    }


def _owner() -> str:
    """The owner the UI acts for; with API keys, only once signed in."""
    owner = bind_owner(current_session())
    if owner is None:
        raise SignInRequired("sign in with your API key to use the web UI")
    return owner


def _wants_json() -> bool:
    return request.path.endswith(".json")


async def page(template: str, status: int = 200, **context: Any) -> Response:
    session = current_session()
    body = await render_template(
        template,
        csrf_field=CSRF_FIELD,
        csrf_token=session.csrf,
        signed_in=authenticated_owner() if keys_enabled() else None,
        request_id=request_id(),
        **context,
    )
    return Response(body, status=status, content_type=HTML)


@blueprint.errorhandler(Exception)
async def _error(exc: Exception) -> Answer:
    if isinstance(exc, SignInRequired) and not _wants_json():
        return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
    if _wants_json():
        return error_response(exc)
    reply = report(exc)
    response = await page("ui/error.html", status=reply.status, reply=reply)
    response.headers.update(reply.headers)
    return response


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a UI path of this site, never elsewhere."""
    default = url_for("ui.dashboard")
    if not value:
        return default
    parts = urlsplit(value)
    unsafe = parts.scheme or parts.netloc or "\\" in value or "/../" in f"{parts.path}/"
    if unsafe or not parts.path.startswith("/ui/"):
        return default
    return value


def _field_errors(reply: ErrorReply) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in reply.fields or []:
        found.setdefault(str(item["field"]), str(item["message"]))
    return found


def _problem(exc: BaseException) -> Problem:
    reply = report(exc)
    return Problem(
        _FRIENDLY.get(reply.code, reply.message), _field_errors(reply), reply.code, reply.status
    )


# --- home ---------------------------------------------------------------------------


@blueprint.get("/")
@hide
async def home() -> Response:
    runtime = get_runtime()
    return await page("ui/home.html", nav="home", sandbox=not runtime.settings.uses_real_flickr)


@blueprint.get("/ui")
@blueprint.get("/ui/")
@hide
async def ui_root() -> Answer:
    return redirect(url_for("ui.dashboard"))


# --- the OAuth wizard ---------------------------------------------------------------


async def _wizard(step: int, status: int = 200, **context: Any) -> Response:
    runtime = get_runtime()
    return await page(
        "ui/connect.html",
        status=status,
        nav="connect",
        step=step,
        server_has_key=runtime.consumer is not None,
        sandbox=not runtime.settings.uses_real_flickr,
        expires_minutes=PENDING_TTL // 60,
        **context,
    )


@blueprint.get("/ui/connect")
@hide
async def connect() -> Response:
    _owner()
    return await _wizard(1, perms="write")


def _perms(form: MultiDict[str, str]) -> str:
    perms = form.get("perms", "write")
    return perms if perms in ("read", "write", "delete") else "write"


@blueprint.post("/ui/connect")
@hide
async def connect_start() -> Response:
    owner = _owner()
    form = await request.form
    check_csrf(form)
    api_key = form.get("api_key", "").strip()
    try:
        data = parse_model(
            AuthStartRequest,
            {"api_key": api_key, "api_secret": form.get("api_secret", ""), "perms": _perms(form)},
        )
        started = await begin_auth(get_runtime(), data, owner)
    except Exception as exc:
        # The key is shown again, the secret never is.
        problem = _problem(exc)
        return await _wizard(
            1, problem.status, problem=problem, api_key=api_key, perms=_perms(form)
        )
    return await _wizard(2, started=started.model_dump())


@blueprint.post("/ui/connect/complete")
@hide
async def connect_complete() -> Response:
    owner = _owner()
    form = await request.form
    check_csrf(form)
    started = {
        "oauth_token": form.get("oauth_token", ""),
        "state": form.get("state", ""),
        "perms": _perms(form),
        "mode": "oob",
        "authorize_url": "",
    }
    verifier = form.get("oauth_verifier", "").strip()
    if not started["oauth_token"] or not started["state"]:
        problem = Problem(_FRIENDLY["ERR_INVALID_STATE"])
        return await _wizard(1, 400, problem=problem, perms=started["perms"])
    runtime = get_runtime()
    started["authorize_url"] = runtime.require_flickr().authorize_url(
        started["oauth_token"], started["perms"]
    )
    if not verifier or len(verifier) > 500:
        problem = Problem(
            "Paste the verifier code Flickr showed you.",
            {"oauth_verifier": "the verifier code is required"},
            "ERR_INVALID_REQUEST",
        )
        return await _wizard(2, 400, problem=problem, started=started)
    try:
        user = await finish_auth(
            started["oauth_token"], verifier, started["state"], via="ui", owner=owner
        )
    except Exception as exc:
        problem = _problem(exc)
        if is_refused_verifier(exc):
            # The request token was kept: the right verifier can still be sent.
            problem = replace(
                problem, message=REFUSED_VERIFIER, fields={"oauth_verifier": REFUSED_VERIFIER}
            )
            return await _wizard(2, problem.status, problem=problem, started=started)
        if problem.code == "ERR_FLICKR_UNAVAILABLE":
            # The request token was kept: the same verifier can be sent again.
            return await _wizard(2, problem.status, problem=problem, started=started)
        return await _wizard(1, problem.status, problem=problem, perms=started["perms"])
    return await _wizard(3, user=user.model_dump())


# --- the dashboard ------------------------------------------------------------------


def _filters() -> DashboardFilters:
    return DashboardFilters.parse(request.args, sorted(get_runtime().targets))


@blueprint.get("/ui/dashboard")
@hide
async def dashboard() -> Response:
    owner = _owner()
    runtime = get_runtime()
    filters = _filters()
    data = await dashboard_data(runtime, owner, filters)
    session = current_session()
    notice, session.notice = session.notice, None
    if notice:
        session.modified = True
    return await page(
        "ui/dashboard.html",
        nav="dashboard",
        data=data,
        notice=notice,
        states=[state.value for state in STATE_ORDER],
        icons={state.value: icon for state, icon in STATE_ICONS.items()},
        targets=sorted(runtime.targets),
        role=runtime.role,
    )


@blueprint.get("/ui/dashboard.json")
@hide
async def dashboard_json() -> Response:
    """The dashboard's data for its live refresh (envelope, like every JSON answer)."""
    owner = _owner()
    return envelope(await dashboard_data(get_runtime(), owner, _filters()))


@blueprint.post("/ui/dlq/replay")
@hide
async def dlq_replay() -> Answer:
    owner = _owner()
    check_csrf(await request.form)
    outcome = await replay_dead_letters(get_runtime(), owner)
    session = current_session()
    session.notice = outcome.message
    session.modified = True
    return redirect(url_for("ui.dashboard"), 303)


@blueprint.get("/ui/jobs/<job_id>")
@hide
async def job(job_id: str) -> Response:
    owner = _owner()
    found = await get_runtime().jobs.get(job_id) if len(job_id) <= 100 else None
    if found is None or found.owner != owner:
        raise NotFound("There is no such job (or it is not yours).", code="ERR_JOB_NOT_FOUND")
    return await page(
        "ui/job.html",
        nav="dashboard",
        job=job_detail(found),
        icons={state.value: icon for state, icon in STATE_ICONS.items()},
    )


# --- signing in (API keys configured) -----------------------------------------------


def _login_limiter() -> ClientRateLimiter:
    limiter: ClientRateLimiter | None = current_app.extensions.get(_LOGIN_LIMITER_KEY)
    if limiter is None:
        limiter = ClientRateLimiter(LOGIN_ATTEMPTS_PER_MINUTE)
        current_app.extensions[_LOGIN_LIMITER_KEY] = limiter
    return limiter


@blueprint.get("/ui/login")
@hide
async def login() -> Answer:
    target = _safe_next(request.args.get("next"))
    if not keys_enabled():
        return redirect(target)
    return await page("ui/login.html", nav="login", next=target)


@blueprint.post("/ui/login")
@hide
async def login_submit() -> Answer:
    form = await request.form
    check_csrf(form)
    target = _safe_next(form.get("next"))
    if not keys_enabled():
        return redirect(target, 303)
    wait = _login_limiter().check("ui-login")
    if wait > 0:
        raise TooManyRequests(
            "too many sign-in attempts; try again in a minute",
            retry_after=retry_after_seconds(wait),
        )
    api_key = form.get("api_key", "").strip()
    if not api_key or len(api_key) > 512 or sign_in(current_session(), api_key) is None:
        problem = Problem(
            "That API key is not one this server knows.",
            {"api_key": "unknown API key"},
            "ERR_UNAUTHORIZED",
            401,
        )
        return await page("ui/login.html", 401, nav="login", next=target, problem=problem)
    get_runtime().log.info("ui_signed_in", request_id=request_id(), client=current_session().client)
    return redirect(target, 303)


@blueprint.post("/ui/logout")
@hide
async def logout() -> Answer:
    check_csrf(await request.form)
    current_session().sign_out()
    return redirect(url_for("ui.login") if keys_enabled() else url_for("ui.home"), 303)
