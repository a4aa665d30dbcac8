"""The overview: the user's numbers and charts, and their domain's for its admins."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from mailbeacon import reporting
from mailbeacon.errors import InvalidInput
from mailbeacon.policy import domain_senders

from .. import charts
from ..site import Site, Views, page, page_args

views = Views()


def chart_svgs(data: dict[str, Any]) -> dict[str, Any]:
    """The page's four charts, drawn on the server."""
    return {
        "by_day_svg": charts.activity_by_day(data["by_day"]),
        "hours_svg": charts.hour_of_week(data["opens_by_hour_of_week"]),
        "clients_svg": charts.horizontal_bars(
            "chart-clients", "Opens by people, by email client", data["clients"], charts.HUMAN
        ),
        "machine_svg": charts.horizontal_bars(
            "chart-machine",
            "Machine hits by verdict (not counted as opens)",
            {k: v for k, v in data["machine_hits"]["by_verdict"].items() if v},
            charts.MACHINE,
        ),
    }


@views.get("/dashboard/overview")
@page
def overview(site: Site) -> Response:
    deps = site.deps
    args, now = page_args(request.args), deps.clock.now()
    try:
        data = reporting.overview(deps.store, g.user, args, now)
    except InvalidInput as exc:
        return site.render("overview.html", 400, data=None, args=request.args, problem=str(exc))
    domain = None
    if (policy := site.admin_policy()) is not None:
        senders = domain_senders(deps.records, policy.domain)
        domain = reporting.domain_overview(deps.store, senders, policy.domain, args, now)
    return site.render(
        "overview.html",
        data=data,
        domain=domain,
        args=request.args,
        problem=None,
        **chart_svgs(data),
        days=charts.DAYS,
    )
