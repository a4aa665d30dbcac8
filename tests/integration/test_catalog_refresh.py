"""`mailbeacon catalogs refresh` against publishers' formats served on a loopback server."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from functions.standins.loopback import LoopbackServer
from mailbeacon.catalogs.loader import CatalogTagger
from tests.support.processes import run_cli

APPLE_CSV = "172.225.6.0/24,US,US-CA,Los Angeles,\n2a02:26f7:b3c0:4000::/64,GB,GB-ENG,London,\n"
GOOGLE_JSON = json.dumps(
    {
        "creationTime": "2026-11-01",
        "prefixes": [{"ipv4Prefix": "66.249.66.0/27"}, {"ipv6Prefix": "2001:4860:4801:10::/64"}],
    }
)
HTML = "<table><tr><td>US</td><td>209.222.82.0/24</td></tr></table>"
# Microsoft's weekly "Azure IP Ranges and Service Tags" page links to a dated JSON file
# (shape: ServiceTags_Public_*.json, as mirrored by maciejporebski/azure-ips).
AZURE_PAGE = '<a href="/download/ServiceTags_Public_20261123.json" class="download">Download</a>'
SERVICE_TAGS = json.dumps(
    {
        "changeNumber": 1,
        "cloud": "Public",
        "values": [
            {
                "name": "AzureCloud",
                "id": "AzureCloud",
                "properties": {"addressPrefixes": ["20.0.0.0/11", "2603:1000::/24"]},
            },
            {
                "name": "EOPExternalPublishedIPs",
                "id": "EOPExternalPublishedIPs",
                "properties": {"addressPrefixes": ["40.92.0.0/15", "2a01:111:f403::/48"]},
            },
        ],
    }
)
# goog.json and cloud.json (Google's ipranges format; google-services = goog minus cloud)
GOOG_JSON = json.dumps(
    {"prefixes": [{"ipv4Prefix": "34.0.0.0/15"}, {"ipv6Prefix": "2607:f8b0::/32"}]}
)
CLOUD_JSON = json.dumps(
    {"prefixes": [{"ipv4Prefix": "34.1.0.0/16", "service": "Google Cloud", "scope": "x"}]}
)

PAGES = {
    "/apple.csv": (200, APPLE_CSV),
    "/googlebot.json": (200, GOOGLE_JSON),
    "/barracuda.html": (200, HTML),
    "/empty.html": (200, "<p>moved</p>"),
    "/azure/details.aspx": (200, AZURE_PAGE),
    "/azure/embedded.aspx": (
        200,
        '<script>{"url":"https:\\/\\/example.invalid\\/x"}</script>'
        '<script>{"file":"\\/download\\/ServiceTags_Public_20261123.json"}</script>',
    ),
    "/download/ServiceTags_Public_20261123.json": (200, SERVICE_TAGS),
    "/goog.json": (200, GOOG_JSON),
    "/cloud.json": (200, CLOUD_JSON),
}


def serve(method: str, path: str, headers: dict[str, str], body: bytes):
    status, text = PAGES.get(path, (404, "not found"))
    return status, {"Content-Type": "text/plain"}, text.encode()


def refresh(server: LoopbackServer, data_dir: Path, *pairs: str):
    args = ["catalogs", "refresh", "--json"]
    for pair in pairs:
        name, path = pair.split("=")
        args += ["--url", f"{name}={server.url}{path}", "--only", name.partition(":")[0]]
    return run_cli(*args, data_dir=data_dir)


def test_refresh_downloads_parses_and_compiles_each_format(tmp_path: Path) -> None:
    server = LoopbackServer(serve)
    try:
        result = refresh(
            server,
            tmp_path,
            "apple-mpp=/apple.csv",
            "googlebot=/googlebot.json",
            "microsoft-eop=/azure/details.aspx",
            "barracuda=/barracuda.html",
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    report = {r["name"]: r for r in json.loads(result.stdout)}
    assert {n: r["networks"] for n, r in report.items()} == {
        "apple-mpp": 2,
        "microsoft-eop": 2,
        "barracuda": 1,
        "googlebot": 2,
    }
    text = (tmp_path / "catalogs" / "microsoft-eop.txt").read_text()
    assert f"# source: {server.url}/download/ServiceTags_Public_20261123.json" in text
    assert "20.0.0.0/11" not in text  # another service tag of the same publication
    tagger = CatalogTagger(tmp_path / "catalogs")
    ip = ipaddress.ip_address
    assert tagger(ip("2a02:26f7:b3c0:4000::9")) == ("apple-mpp",)
    assert tagger(ip("172.226.0.1")) == ()  # the refreshed list replaced the shipped seed
    assert tagger(ip("66.249.66.3")) == ("google-services", "googlebot")
    assert tagger(ip("104.47.0.1")) == ()  # not in the downloaded list any more
    assert tagger(ip("40.93.1.1"))[0] == "microsoft-eop"
    assert tagger(ip("2a01:111:f403::1")) == ("microsoft-eop",)


def test_a_failed_or_empty_download_keeps_the_previous_list(tmp_path: Path) -> None:
    server = LoopbackServer(serve)
    try:
        ok = refresh(server, tmp_path, "barracuda=/barracuda.html")
        empty = refresh(server, tmp_path, "barracuda=/empty.html")
        missing = refresh(server, tmp_path, "barracuda=/gone.html")
    finally:
        server.stop()
    assert ok.returncode == 0
    assert empty.returncode == 1 and missing.returncode == 1
    assert "no networks found" in json.loads(empty.stdout)[0]["detail"]
    assert "404" in json.loads(missing.stdout)[0]["detail"]
    tagger = CatalogTagger(tmp_path / "catalogs")
    assert tagger(ipaddress.ip_address("209.222.82.9")) == ("barracuda",)


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    bad_url = run_cli("catalogs", "refresh", "--url", "nonsense", data_dir=tmp_path)
    bad_name = run_cli("catalogs", "refresh", "--only", "nope", data_dir=tmp_path)
    for result in (bad_url, bad_name):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "catalogs").exists()


def test_refresh_follows_microsofts_page_and_subtracts_googles_cloud(tmp_path: Path) -> None:
    server = LoopbackServer(serve)
    try:
        result = refresh(
            server,
            tmp_path,
            "microsoft-eop=/azure/details.aspx",
            "azure-cloud=/azure/embedded.aspx",
            "google-services=/goog.json",
            "google-services:minus=/cloud.json",
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    report = {r["name"]: r for r in json.loads(result.stdout)}
    assert report["microsoft-eop"]["networks"] == 2 and report["azure-cloud"]["networks"] == 2
    assert report["microsoft-eop"]["detail"].endswith("/download/ServiceTags_Public_20261123.json")
    text = (tmp_path / "catalogs" / "google-services.txt").read_text()
    assert f"# source: {server.url}/goog.json minus {server.url}/cloud.json" in text
    assert "34.0.0.0/16" in text and "34.1.0.0" not in text
    tagger = CatalogTagger(tmp_path / "catalogs")
    ip = ipaddress.ip_address
    assert tagger(ip("40.92.1.1")) == ("microsoft-eop",)
    assert tagger(ip("20.1.2.3")) == ("azure-cloud",)
    assert tagger(ip("34.0.5.5")) == ("google-services",)
    assert tagger(ip("34.1.5.5")) == ()  # a Google Cloud customer, taken out
    assert tagger(ip("2607:f8b0:4004::12")) == ("google-services",)


def test_a_service_tag_page_without_the_download_link_is_refused(tmp_path: Path) -> None:
    server = LoopbackServer(serve)
    try:
        result = refresh(server, tmp_path, "azure-cloud=/empty.html")
    finally:
        server.stop()
    assert result.returncode == 1
    assert "ServiceTags_Public" in json.loads(result.stdout)[0]["detail"]
    assert not (tmp_path / "catalogs" / "azure-cloud.bin").exists()
