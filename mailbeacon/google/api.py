"""google-api-python-client services built from the discovery documents shipped with it.

Building from the bundled document means no discovery fetch at run time, and lets tests (and
private endpoints) point the client at another ``api_endpoint``. Every call goes through
``execute``, which translates the client's errors into ours at this one boundary.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ..errors import DeliveryFailed
from ..retry_after import retry_after_seconds


@cache
def discovery_document(api: str, version: str) -> str:
    package = resources.files("googleapiclient.discovery_cache") / "documents"
    return (package / f"{api}.{version}.json").read_text()


def build_service(
    api: str, version: str, *, endpoint: str, credentials: Any, timeout: float
) -> Any:
    """A client for ``api`` at ``endpoint`` (the API's root URL or a loopback stand-in)."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build_from_document

    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    return build_from_document(
        discovery_document(api, version),
        http=http,
        client_options={"api_endpoint": endpoint.rstrip("/") + "/"},
    )


def transport_errors() -> tuple[type[BaseException], ...]:
    """What a call raises when Google could not be reached or answered garbage."""
    import httplib2
    from google.auth.exceptions import TransportError

    return (OSError, httplib2.HttpLib2Error, json.JSONDecodeError, TransportError)


def execute(channel: str, request: Any, *, permanent_status: set[int]) -> Any:
    """Run a request; HttpError and network errors become DeliveryFailed for ``channel``."""
    from google.auth.exceptions import RefreshError
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=0)
    except HttpError as exc:
        status = int(exc.resp.status)
        detail = api_reason(exc) or f"HTTP {status}"
        retry_after = None
        if status in (429, 503):
            retry_after = retry_after_seconds(exc.resp.get("retry-after"))
        raise DeliveryFailed(
            channel,
            f"{status} {detail}",
            permanent=status in permanent_status,
            retry_after=retry_after,
            status=status,
        ) from exc
    except RefreshError as exc:  # the delegated or app identity was refused a token
        detail = f"Google refused our credentials: {exc}"
        raise DeliveryFailed(channel, detail, permanent=True) from exc
    except transport_errors() as exc:
        raise DeliveryFailed(channel, f"Google API unreachable: {exc}", permanent=False) from exc


def api_reason(exc: Any) -> str:
    """The ``error.message`` of a Google API error body, if it has one."""
    try:
        return str(json.loads(exc.content)["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return ""
