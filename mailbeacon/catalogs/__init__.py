"""Address catalogues: published networks of mail proxies, filters and crawlers.

This module only names them (cheap to import, the classifier reads it); `ranges` matches
addresses, `loader` builds the edge's tagger and `refresh` downloads new snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["prefetch", "scanner", "crawler", "proxy"]
Certainty = Literal["certain", "probable"]
Scope = Literal["all", "opens", "clicks"]
Format = Literal["cidr-lines", "apple-csv", "google-json", "html-cidrs", "azure-service-tag"]


@dataclass(frozen=True)
class CatalogSource:
    """One catalogue: what its networks do, how sure a match is, and where it is published.

    ``role`` says which verdict a match points to; ``certainty`` ``probable`` means the
    network can also carry a person (browser isolation), so a match only counts inside the
    probable-scanner window; ``scope`` limits the kinds of hit a match speaks for. ``selector``
    picks one part of a multi-part publication (an Azure service tag); ``minus_url`` is a second
    publication whose networks are taken out (Google: goog.json minus cloud.json).
    """

    name: str
    role: Role
    certainty: Certainty
    scope: Scope
    url: str
    format: Format
    about: str
    selector: str = ""
    minus_url: str = ""


# The weekly publication's landing page; its JSON file's name changes every week, so refresh
# follows the page's link to ServiceTags_Public_YYYYMMDD.json.
_AZURE_SERVICE_TAGS = "https://www.microsoft.com/en-us/download/details.aspx?id=56519"

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
    # Exchange Online Protection / Defender: Microsoft's service tag EOPExternalPublishedIPs in the
    # weekly "Azure IP Ranges and Service Tags" publication (it holds the endpoint-set-9 SMTP ranges
    # warmbly's scanner-networks.txt copies, and 40.94.0.0/16 of Mautic #9400). Exchange Online
    # itself is left out: Outlook on the web proxies real opens from there.
    CatalogSource(
        "microsoft-eop",
        "scanner",
        "certain",
        "all",
        _AZURE_SERVICE_TAGS,
        "azure-service-tag",
        "Microsoft 365 Exchange Online Protection and Safe Links detonation",
        selector="EOPExternalPublishedIPs",
    ),
    # Azure's public cloud (service tag AzureCloud): Defender for Office 365 detonates links from
    # Azure addresses outside the EOP list (warmbly notes; emdash #3298: AS8075, headless Chrome,
    # 22 s after sending). People work from Azure too (Windows 365, virtual desktops), so a match
    # is "probable" and speaks for clicks only.
    CatalogSource(
        "azure-cloud",
        "scanner",
        "probable",
        "clicks",
        _AZURE_SERVICE_TAGS,
        "azure-service-tag",
        "Microsoft Azure public cloud (Defender link detonation)",
        selector="AzureCloud",
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
    # Gmail's image proxy: Google-owned user-triggered fetchers (rDNS google-proxy-*.google.com),
    # Google's user-triggered-fetchers-google.json. A person opening in Gmail: never a machine by
    # network alone (Mautic #16069); opens only.
    CatalogSource(
        "google-image-proxy",
        "proxy",
        "certain",
        "opens",
        "https://developers.google.com/static/crawling/ipranges/user-triggered-fetchers-google.json",
        "google-json",
        "Gmail image proxy (Google user-triggered fetchers)",
    ),
    # Google's own services: goog.json minus cloud.json (Google's documented method). Google's
    # link scanner clicks from here with a current Chrome user agent about a minute after
    # delivery (karaoke-gen PR #870: 2607:f8b0::/32, Chrome/149). Nobody browses from it, but a
    # Google employee might, so "probable", clicks only.
    CatalogSource(
        "google-services",
        "scanner",
        "probable",
        "clicks",
        "https://www.gstatic.com/ipranges/goog.json",
        "google-json",
        "Google services (link scanning); customer cloud excluded",
        minus_url="https://www.gstatic.com/ipranges/cloud.json",
    ),
    # Google's published crawler ranges (EmailEngine data/google-crawlers.json), at the address
    # Google moved them to in 2026 (Search Central blog 2026-03-31). Gmail's image proxy fetches
    # from some of them: its user agent always wins over this tag.
    CatalogSource(
        "google-crawlers",
        "crawler",
        "certain",
        "all",
        "https://developers.google.com/static/crawling/ipranges/special-crawlers.json",
        "google-json",
        "Google special-case crawlers",
    ),
    CatalogSource(
        "googlebot",
        "crawler",
        "certain",
        "all",
        "https://developers.google.com/static/crawling/ipranges/common-crawlers.json",
        "google-json",
        "Googlebot common crawlers",
    ),
)

BY_NAME: dict[str, CatalogSource] = {source.name: source for source in SOURCES}


def source(name: str) -> CatalogSource | None:
    """The catalogue a tag names, or None for a tag this version does not know."""
    return BY_NAME.get(name)
