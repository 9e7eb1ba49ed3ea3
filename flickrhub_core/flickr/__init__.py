"""The Flickr client: OAuth 1.0a signing, REST, upload, replace, token exchange.

Everything public is re-exported here; the submodules are one concern each
(``signing``, ``client``, ``transport``, ``responses``, ``multipart``, ``methods``,
``errors``).
Failures are :class:`flickrhub_core.errors.FlickrError` subclasses whose
``retryable`` and ``sent`` follow the table in :mod:`flickrhub_core.flickr.errors`.
"""

from flickrhub_core.flickr.client import MAX_RESPONSE_BYTES, FlickrClient
from flickrhub_core.flickr.errors import is_retryable_code
from flickrhub_core.flickr.methods import is_cacheable, is_idempotent, is_write
from flickrhub_core.flickr.models import (
    FLICKR_ENDPOINTS,
    AccessToken,
    BytesPhoto,
    CallKind,
    CallRecord,
    Credentials,
    Endpoints,
    PhotoSource,
    RequestToken,
)
from flickrhub_core.flickr.multipart import MultipartBody, PhotoSizeMismatch
from flickrhub_core.flickr.responses import (
    MalformedResponse,
    parse_access_token,
    parse_request_token,
    parse_xml_envelope,
    xml_to_json,
)
from flickrhub_core.flickr.signing import (
    authorization_header,
    escape,
    hmac_sha1_signature,
    oauth_params,
    signature_base_string,
)

__all__ = [
    "FLICKR_ENDPOINTS",
    "MAX_RESPONSE_BYTES",
    "AccessToken",
    "BytesPhoto",
    "CallKind",
    "CallRecord",
    "Credentials",
    "Endpoints",
    "FlickrClient",
    "MalformedResponse",
    "MultipartBody",
    "PhotoSizeMismatch",
    "PhotoSource",
    "RequestToken",
    "authorization_header",
    "escape",
    "hmac_sha1_signature",
    "is_cacheable",
    "is_idempotent",
    "is_retryable_code",
    "is_write",
    "oauth_params",
    "parse_access_token",
    "parse_request_token",
    "parse_xml_envelope",
    "signature_base_string",
    "xml_to_json",
]
