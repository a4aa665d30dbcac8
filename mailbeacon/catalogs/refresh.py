"""`mailbeacon catalogs refresh`: download the published lists and compile them for the edge.

Each list is parsed in its publisher's format, checked (a download that yields no network is
refused, so a broken page never empties a catalogue) and written atomically into
``DATA_DIR/catalogs`` as a readable ``NAME.txt`` (with its source and date) and a compiled
``NAME.bin`` the tagger loads. A running server picks them up when it next starts.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from . import BY_NAME, SOURCES, CatalogSource
from .loader import read_cidr_lines
from .ranges import RangeSet, find_cidrs, network_bounds

MAX_BYTES = 64 << 20
TIMEOUT_SECONDS = 30.0


def _apple_csv(text: str) -> list[str]:
    # "prefix,country,region,city," per line (mask-api.icloud.com/egress-ip-ranges.csv)
    return [line.split(",", 1)[0] for line in text.splitlines() if line.strip()]


def _google_json(text: str) -> list[str]:
    data = json.loads(text)
    return [p.get("ipv4Prefix") or p.get("ipv6Prefix") or "" for p in data.get("prefixes", [])]


_SERVICE_TAGS_LINK = re.compile(r"""[^"'\s<>]*ServiceTags_Public_\d+\.json""")


def _azure_service_tag(text: str, tag: str) -> list[str]:
    """One service tag's prefixes from Microsoft's ServiceTags_Public JSON."""
    for value in json.loads(text).get("values", []):
        if value.get("id") == tag or value.get("name") == tag:
            return list(value.get("properties", {}).get("addressPrefixes", []))
    raise ValueError(f"service tag {tag} not in the publication")


PARSERS: dict[str, Callable[[str], list[str]]] = {
    "cidr-lines": read_cidr_lines,
    "apple-csv": _apple_csv,
    "google-json": _google_json,
    "html-cidrs": find_cidrs,
}


@dataclass(frozen=True)
class RefreshResult:
    """What happened to one catalogue."""

    name: str
    ok: bool
    networks: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "networks": self.networks, "detail": self.detail}


def _download(url: str) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": "mailbeacon-catalogs/1"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    return body.decode("utf-8", errors="replace")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _networks(source: CatalogSource, url: str) -> tuple[list[str], str]:
    """The networks one publication lists, and the URL they finally came from."""
    text = _download(url)
    if source.format == "azure-service-tag":
        if not text.lstrip().startswith("{"):
            # the landing page: follow its link to this week's ServiceTags_Public_*.json
            # the link sits in an href or, escaped, in the page's embedded JSON
            link = _SERVICE_TAGS_LINK.search(text.replace("\\/", "/"))
            if link is None:
                raise ValueError("no ServiceTags_Public_*.json link on the page")
            url = urllib.parse.urljoin(url, link.group(0))
            text = _download(url)
        found = _azure_service_tag(text, source.selector)
    else:
        found = PARSERS[source.format](text)
    return [n for n in found if n and network_bounds(n) is not None], url


def refresh_one(
    source: CatalogSource, url: str, target: Path, now: datetime, minus_url: str = ""
) -> RefreshResult:
    try:
        found, url = _networks(source, url)
        removed: list[str] = []
        if found and minus_url:
            removed, minus_url = _networks(source, minus_url)
            if not removed:
                raise ValueError(f"{minus_url}: no networks to take out")
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return RefreshResult(source.name, False, detail=f"{url}: {exc}")
    if not found:
        return RefreshResult(source.name, False, detail=f"{url}: no networks found; kept the old")
    ranges = RangeSet.from_networks(found)
    if removed:
        ranges = ranges.difference(RangeSet.from_networks(removed))
        found = ranges.to_networks()
    origin = f"{url} minus {minus_url}" if removed else url
    header = (
        f"# catalogue: {source.name}\n# source: {origin}\n"
        f"# snapshot: {now.astimezone(UTC).isoformat(timespec='seconds')}\n"
    )
    target.mkdir(parents=True, exist_ok=True)
    _write_atomically(target / f"{source.name}.txt", (header + "\n".join(found) + "\n").encode())
    _write_atomically(target / f"{source.name}.bin", ranges.to_bytes())
    return RefreshResult(source.name, True, len(found), url)


def refresh(
    target: Path,
    *,
    urls: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
    now: datetime | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[RefreshResult]:
    """Refresh every catalogue with a published URL (or ``only`` those); ``urls`` overrides
    (``NAME`` for the list itself, ``NAME:minus`` for the list taken out of it). ``progress``
    is told (step, steps, name) before each download, which may take a while."""
    urls = dict(urls or {})
    now = now or datetime.now(UTC)
    results = []
    chosen = [source for source in SOURCES if not only or source.name in only]
    for step, source in enumerate(chosen, start=1):
        if progress is not None:
            progress(step, len(chosen), source.name)
        url = urls.get(source.name) or source.url
        if not url:
            results.append(RefreshResult(source.name, True, detail="no published list; snapshot"))
            continue
        minus = urls.get(f"{source.name}:minus") or source.minus_url
        results.append(refresh_one(source, url, target, now, minus))
    return results


def url_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=URL`` (or ``NAME:minus=URL`` for a list taken out of NAME) pairs, checked."""
    urls = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        base, _, part = name.partition(":")
        source = BY_NAME.get(base)
        known_part = not part or (part == "minus" and source is not None and source.minus_url)
        if (
            not sep
            or source is None
            or not known_part
            or not url.startswith(("http://", "https://"))
        ):
            known = ", ".join(BY_NAME)
            raise InvalidInput(
                "--url expects NAME=http(s)://... (or NAME:minus=...),"
                f" NAME one of {known}: {pair!r}"
            )
        urls[name] = url
    return urls
