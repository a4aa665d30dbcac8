"""Address catalogues: published networks of mail proxies, filters and crawlers.

This module only names them (cheap to import, the classifier reads it); `ranges` matches
addresses, `loader` builds the edge's tagger and `refresh` downloads new snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["prefetch", "scanner", "crawler"]
Certainty = Literal["certain", "probable"]
Scope = Literal["all", "opens", "clicks"]
Format = Literal["cidr-lines", "apple-csv", "google-json", "office365-smtp", "html-cidrs"]


@dataclass(frozen=True)
class CatalogSource:
    """One catalogue: what its networks do, how sure a match is, and where it is published.

    ``role`` says which verdict a match points to; ``certainty`` ``probable`` means the
    network can also carry a person (browser isolation), so a match only counts inside the
    probable-scanner window; ``scope`` limits the kinds of hit a match speaks for.
    """

    name: str
    role: Role
    certainty: Certainty
    scope: Scope
    url: str
    format: Format
    about: str


SOURCES: tuple[CatalogSource, ...] = (
    # Apple Mail Privacy Protection loads images through iCloud Private Relay egress
    # (wordtothewise 2021-09 "Apple MPP reporting and geolocation"; research 3.2). Opens only:
    # the same egress carries Safari users' own clicks when Private Relay is on.
    CatalogSource(
        "apple-mpp",
        "prefetch",
        "certain",
        "opens",
        "https://mask-api.icloud.com/egress-ip-ranges.csv",
        "apple-csv",
        "iCloud Private Relay / Mail Privacy Protection egress",
    ),
    # Exchange Online Protection / Defender: endpoint set 9 of the Microsoft 365 list
    # (the SMTP ranges); warmbly scanner-networks.txt. Exchange Online itself is left out:
    # Outlook on the web proxies real opens from there.
    CatalogSource(
        "microsoft-eop",
        "scanner",
        "certain",
        "all",
        "https://endpoints.office.com/endpoints/worldwide?clientrequestid=b10c5ed1-bad1-445f-b386-b919946339a7",
        "office365-smtp",
        "Microsoft 365 Exchange Online Protection and Safe Links detonation",
    ),
    # Barracuda Email Gateway Defense regional ranges (warmbly scanner-networks.txt).
    CatalogSource(
        "barracuda",
        "scanner",
        "certain",
        "all",
        "https://campus.barracuda.com/product/emailgatewaydefense/doc/96023036/email-gateway-defense-ip-ranges",
        "html-cidrs",
        "Barracuda Email Gateway Defense",
    ),
    # Proofpoint, Mimecast and Cisco: pure mail-security networks, but browser isolation can
    # put a person behind a request, so "probable" (warmbly scanner-networks.txt).
    CatalogSource(
        "proofpoint",
        "scanner",
        "probable",
        "all",
        "https://help.proofpoint.com/Proofpoint_Essentials/Email_Security/Administrator_Topics/000_gettingstarted/020_connectiondetails",
        "html-cidrs",
        "Proofpoint Essentials / Protection Server cloud",
    ),
    CatalogSource(
        "mimecast",
        "scanner",
        "probable",
        "all",
        "https://community.mimecast.com/s/article/Mimecast-Data-Centers-and-URLs",
        "html-cidrs",
        "Mimecast data centres",
    ),
    CatalogSource(
        "cisco-secure-email",
        "scanner",
        "probable",
        "all",
        "https://www.cisco.com/c/en/us/support/docs/security/email-security-appliance/118378-technote-esa-00.html",
        "html-cidrs",
        "Cisco Secure Email cloud (IronPort, iphmx.com)",
    ),
    # Addresses seen scanning tracked links in public issue threads (Mautic #9400: Microsoft
    # 40.94.x.x clicked every double opt-in link; Defender detonation runs outside the
    # published EOP list, warmbly notes). A narrow block, so treated as certain.
    CatalogSource(
        "observed-scanners",
        "scanner",
        "certain",
        "all",
        "",
        "cidr-lines",
        "Scanner sources reported in public tracker issues",
    ),
    # Google's published crawler ranges (EmailEngine data/google-crawlers.json). Gmail's
    # image proxy fetches from some of them: its user agent always wins over this tag.
    CatalogSource(
        "google-crawlers",
        "crawler",
        "certain",
        "all",
        "https://developers.google.com/static/search/apis/ipranges/special-crawlers.json",
        "google-json",
        "Google special-case crawlers",
    ),
    CatalogSource(
        "googlebot",
        "crawler",
        "certain",
        "all",
        "https://developers.google.com/static/search/apis/ipranges/googlebot.json",
        "google-json",
        "Googlebot common crawlers",
    ),
)

BY_NAME: dict[str, CatalogSource] = {source.name: source for source in SOURCES}


def source(name: str) -> CatalogSource | None:
    """The catalogue a tag names, or None for a tag this version does not know."""
    return BY_NAME.get(name)
