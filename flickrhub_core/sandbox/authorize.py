"""HTML of the authorize step (everything user-supplied is escaped).

The page shows the consumer key and the requested permission and offers Approve and
Deny buttons in one form that posts back to the same path with ``oauth_token``,
``perms``, an optional ``username`` (the Flickr account that approves; empty means the
seeded ``@janko-m``) and a hidden per-page CSRF value (field ``csrf``).
"""

from __future__ import annotations

from html import escape

_STYLE = (
    "body{font-family:sans-serif;max-width:36rem;margin:3rem auto;line-height:1.5}"
    "code,#verifier{font-family:monospace;font-size:1.2rem}"
)


def _page(title: str, content: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} | Flickr sandbox</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>\n{content}\n</body></html>\n"
    )


def authorize_page(
    *, action: str, token: str, perms: str, consumer_key: str, csrf: str, default_username: str
) -> str:
    return _page(
        "Authorize application",
        f'<p>The application with API key <code id="consumer-key">{escape(consumer_key)}</code> '
        f'asks for <strong id="perms">{escape(perms)}</strong> access to your Flickr account.</p>'
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="oauth_token" value="{escape(token)}">'
        f'<input type="hidden" name="perms" value="{escape(perms)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        "<p><label>Flickr username (empty: "
        f"<code>{escape(default_username)}</code>) "
        '<input type="text" name="username" maxlength="64" autocomplete="off"></label></p>'
        '<p><button type="submit" name="approve" value="1" id="approve">'
        "OK, I'll authorize it</button> "
        '<button type="submit" name="deny" value="1" id="deny">No thanks</button></p>'
        "</form>",
    )


def verifier_page(verifier: str, username: str) -> str:
    return _page(
        "Application authorized",
        f"<p>Signed in as <strong>{escape(username)}</strong>. "
        "Type this code into the application:</p>"
        f'<p><span id="verifier">{escape(verifier)}</span></p>',
    )


def message_page(title: str, message: str) -> str:
    return _page(title, f'<p id="message">{escape(message)}</p>')
