"""google-api-python-client services built from the discovery documents shipped with it.

Building from the bundled document means no discovery fetch at run time, and lets tests (and
private endpoints) point the client at another ``api_endpoint``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from mailbeacon.errors import DeliveryFailed

from ..retry import TRANSIENT_ERRORS


def discovery_document(api: str, version: str) -> str:
    package = resources.files("googleapiclient.discovery_cache") / "documents"
    return (package / f"{api}.{version}.json").read_text()


def build_service(
    api: str, version: str, *, endpoint: str, credentials: Any, timeout: float
) -> Any:
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build_from_document

    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
    return build_from_document(
        discovery_document(api, version),
        http=http,
        client_options={"api_endpoint": endpoint.rstrip("/") + "/"},
    )


def execute(channel: str, request: Any, *, permanent_status: set[int]) -> Any:
    """Run a request; turn HttpError and network errors into DeliveryFailed."""
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=0)
    except HttpError as exc:
        status = int(exc.resp.status)
        detail = _reason(exc) or f"HTTP {status}"
        retry_after = None
        if status == 429:
            try:
                retry_after = float(exc.resp.get("retry-after", "")) or None
            except ValueError:
                retry_after = None
        raise DeliveryFailed(
            channel,
            f"{status} {detail}",
            permanent=status in permanent_status,
            retry_after=retry_after,
            status=status,
        ) from exc
    except TRANSIENT_ERRORS as exc:
        raise DeliveryFailed(channel, f"Google API unreachable: {exc}", permanent=False) from exc


def _reason(exc: Any) -> str:
    try:
        return json.loads(exc.content)["error"]["message"][:200]
    except (ValueError, KeyError, TypeError):
        return ""
