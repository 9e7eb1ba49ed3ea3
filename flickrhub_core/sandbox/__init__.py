"""A Flickr-compatible simulator for development and tests.

It speaks Flickr's wire protocol closely enough for unmodified Flickr clients
(``flickrapi``, the official SDKs): OAuth 1.0a with real HMAC-SHA1 verification on
every endpoint, the authorize page, the REST endpoint with Flickr's envelopes and
error codes over an in-memory photo library seeded from real recordings, streamed
upload and replace with async tickets, the per-key hourly rate limit, and fault
injection (latency, 5xx, ``stat:fail`` 105, dropped connections).

Where to look: routes and paths in :mod:`.app`; OAuth steps in
:mod:`.oauth_endpoints` and :mod:`.auth`; methods in :mod:`.methods`; uploads in
:mod:`.uploads`; faults in :mod:`.faults`; admin endpoints in :mod:`.admin`;
optional persistence of accounts and tokens in :mod:`.persistence`; a threaded test
server in :mod:`.testing`.

Deliberate differences from Flickr: ``flickr.photos.search`` without filters lists
every visible photo instead of failing with code 3; there are no contacts, so
friend/family photos are visible to their owner only; verifiers are 16 hex digits
(never ``123-456-789``); write methods sent with GET fail with code 116 "The POST
method is now required for all setters".
"""

from .app import create_sandbox_app
from .config import SandboxConfig, make_demo_consumer
from .server import serve_sandbox

__all__ = ["SandboxConfig", "create_sandbox_app", "make_demo_consumer", "serve_sandbox"]
