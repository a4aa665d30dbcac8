"""The overview: the user's numbers and charts, and their domain's for its admins, in the
user's own days and hours."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from mailbeacon import reporting, words
from mailbeacon.errors import InvalidInput
from mailbeacon.policy import domain_senders

from .. import charts
from ..site import Site, Views, page, page_args, problem_text

views = Views()


def chart_svgs(data: dict[str, Any], tz: str) -> dict[str, Any]:
    """The page's charts, drawn on the server (each busy one twice: for a wide screen and for
    a phone; the stylesheet shows one)."""
    machine = {words.verdict(k): v for k, v in data["machine_hits"]["by_verdict"].items() if v}
    clients = {words.client(k): v for k, v in data["clients"].items()}
    return {
        "by_day_svg": charts.activity_by_day(data["by_day"]),
        "by_day_narrow_svg": charts.activity_by_day(data["by_day"], narrow=True),
        "hours_svg": charts.hour_of_week(data["opens_by_hour_of_week"], tz),
        "hours_narrow_svg": charts.hour_of_week_narrow(data["opens_by_hour_of_week"], tz),
        "clients_svg": charts.horizontal_bars(
            "chart-clients", "Opens by people, by email client", clients, charts.HUMAN
        ),
        "machine_svg": charts.horizontal_bars(
            "chart-machine", "Machine hits, by who made them (not counted)", machine, charts.MACHINE
        ),
    }


@views.get("/dashboard/overview")
@page
def overview(site: Site) -> Response:
    deps = site.deps
    tz = site.zone()
    args, now = page_args(request.args, tz), deps.clock.now()
    try:
        data = reporting.overview(deps.store, g.user, args, now, tz)
    except InvalidInput as exc:
        return site.render(
            "overview.html", 400, data=None, args=request.args, problem=problem_text(exc)
        )
    domain = None
    if (policy := site.admin_policy()) is not None:
        senders = domain_senders(deps.records, policy.domain)
        domain = reporting.domain_overview(deps.store, senders, policy.domain, args, now, tz)
    return site.render(
        "overview.html",
        data=data,
        domain=domain,
        args=request.args,
        problem=None,
        **chart_svgs(data, tz),
        days=charts.DAYS,
    )
