"""Network catalogues: range matching, the compiled form, and the edge's lazy tagger."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from functions.bootstrap import bootstrap
from functions.config import AppConfig
from mailbeacon.catalogs import SOURCES
from mailbeacon.catalogs.loader import PACKAGED, CatalogTagger, read_cidr_lines
from mailbeacon.catalogs.ranges import RangeSet, find_cidrs, network_bounds

ip = ipaddress.ip_address


def test_range_edges_are_exact_for_ipv4_and_ipv6() -> None:
    ranges = RangeSet.from_networks(["40.107.0.0/16", "2a01:111:f400::/48", "not a network"])
    assert ip("40.107.0.0") in ranges and ip("40.107.255.255") in ranges
    assert ip("40.106.255.255") not in ranges and ip("40.108.0.0") not in ranges
    assert ip("2a01:111:f400:ffff::1") in ranges
    assert ip("2a01:111:f401::") not in ranges and ip("2a01:111:f3ff:ffff::") not in ranges
    assert len(ranges) == 2


def test_overlapping_and_adjacent_networks_merge() -> None:
    ranges = RangeSet.from_networks(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24"])
    assert list(ranges.v4_starts) == [int(ip("10.0.0.0")), int(ip("10.0.3.0"))]
    assert ip("10.0.2.1") not in ranges


def test_compiled_form_round_trips() -> None:
    ranges = RangeSet.from_networks(["203.0.113.0/24", "2001:db8::/32"])
    again = RangeSet.from_bytes(ranges.to_bytes())
    assert ip("203.0.113.7") in again and ip("2001:db8:1::1") in again
    assert ip("198.51.100.1") not in again


def test_cidrs_are_found_in_a_vendors_html_page() -> None:
    html = "<td>40.92.0.0/15</td><td>2a01:111:f400::/48</td> version 1.2/3 999.1.1.1/8"
    assert find_cidrs(html) == ["40.92.0.0/15", "2a01:111:f400::/48"]


def test_every_catalogue_ships_a_snapshot_with_its_source_and_date() -> None:
    for source in SOURCES:
        text = (PACKAGED / f"{source.name}.txt").read_text()
        assert "# source:" in text and "# snapshot:" in text, source.name
        assert read_cidr_lines(text), source.name


def test_tagger_names_the_catalogues_an_address_falls_in() -> None:
    tagger = CatalogTagger(None)
    assert tagger(ip("40.107.218.12")) == ("microsoft-eop",)
    assert tagger(ip("172.225.6.41")) == ("apple-mpp",)
    assert tagger(ip("148.163.150.10")) == ("proofpoint",)
    assert tagger(ip("203.0.113.9")) == ()


def test_a_refreshed_copy_wins_and_a_damaged_one_falls_back(tmp_path: Path) -> None:
    (tmp_path / "microsoft-eop.bin").write_bytes(
        RangeSet.from_networks(["192.0.2.0/24"]).to_bytes()
    )
    (tmp_path / "mimecast.bin").write_bytes(b"garbage")
    tagger = CatalogTagger(tmp_path)
    assert tagger(ip("192.0.2.5")) == ("microsoft-eop",)
    assert tagger(ip("40.107.218.12")) == ()
    assert tagger(ip("205.139.110.30")) == ("mimecast",)  # packaged snapshot still used


def test_the_edge_loads_catalogues_on_the_first_hit_not_at_start(tmp_path: Path) -> None:
    app = bootstrap(AppConfig.local(tmp_path))
    try:
        tagger = app.tagger
        assert isinstance(tagger, CatalogTagger)
        assert tagger._catalogs is None  # a cold start pays nothing for catalogues
        assert tagger(ip("40.107.218.12")) == ("microsoft-eop",)
        assert tagger._catalogs is not None
    finally:
        app.close()


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("10.0.0.0/8", (4, 0x0A000000, 0x0AFFFFFF)),
        ("10.1.2.3", (4, 0x0A010203, 0x0A010203)),
        ("10.1.2.3/24", (4, 0x0A010200, 0x0A0102FF)),
        ("2a01::/16", (6, 0x2A01 << 112, (0x2A02 << 112) - 1)),
        ("1.2.3.4/33", None),
        ("1.2.3.4/-1", None),
        ("1.2.3.4/ 8", None),
        ("1.2.3/24", None),
        ("", None),
        ("garbage", None),
    ],
)
def test_network_bounds(text: str, bounds: tuple[int, int, int] | None) -> None:
    assert network_bounds(text) == bounds


def test_packaged_compiled_catalogues_match_their_text_snapshots() -> None:
    # `python -m mailbeacon.catalogs.loader` writes the .bin files; they must not drift
    for source in SOURCES:
        text = (PACKAGED / f"{source.name}.txt").read_text()
        compiled = RangeSet.from_networks(read_cidr_lines(text)).to_bytes()
        assert (PACKAGED / f"{source.name}.bin").read_bytes() == compiled, source.name


def test_shipped_snapshots_are_the_full_published_lists() -> None:
    tagger = CatalogTagger(None)
    # Apple's egress list, Fastly's relay blocks included (issue #16 family 2)
    for address in ("140.248.40.70", "146.75.168.85", "104.28.40.12", "172.225.46.10"):
        assert tagger(ip(address)) == ("apple-mpp",), address
    # EOP's service tag covers the 40.94.0.0/16 scanners of Mautic #9400
    assert "microsoft-eop" in tagger(ip("40.94.18.3"))
    assert tagger(ip("52.160.10.20")) == ("azure-cloud",)
    # Google: the image proxy apart from Google's own services (goog.json minus cloud.json)
    assert tagger(ip("66.249.84.40")) == ("google-image-proxy", "google-services")
    assert tagger(ip("2607:f8b0:4004:c1b::12")) == ("google-services",)
    assert tagger(ip("34.1.1.1")) == ()  # Google Cloud customers are not Google
    sizes = {
        s.name: len(read_cidr_lines((PACKAGED / f"{s.name}.txt").read_text())) for s in SOURCES
    }
    assert sizes["apple-mpp"] > 10_000 and sizes["azure-cloud"] > 4_000


def test_difference_and_back_to_cidrs() -> None:
    whole = RangeSet.from_networks(["10.0.0.0/16", "2001:db8::/32"])
    cut = RangeSet.from_networks(["10.0.1.0/24", "10.0.255.0/24", "2001:db8:8000::/33"])
    rest = whole.difference(cut)
    assert rest.to_networks() == [
        "10.0.0.0/24",
        "10.0.2.0/23",
        "10.0.4.0/22",
        "10.0.8.0/21",
        "10.0.16.0/20",
        "10.0.32.0/19",
        "10.0.64.0/18",
        "10.0.128.0/18",
        "10.0.192.0/19",
        "10.0.224.0/20",
        "10.0.240.0/21",
        "10.0.248.0/22",
        "10.0.252.0/23",
        "10.0.254.0/24",
        "2001:db8::/33",
    ]
    assert ip("10.0.1.5") not in rest and ip("10.0.2.5") in rest
