"""The domain's page: its policy and audit log, for its admins only."""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from mailbeacon.errors import InvalidInput
from mailbeacon.policy import (
    CHANNELS,
    KEEP,
    Policy,
    PolicyChange,
    audit_log,
    enforce_retention,
    update_policy,
)
from mailbeacon.validation import whole_number

from ..site import Site, Views, form_expired, not_found, page

views = Views()


def domain_page(site: Site, policy: Policy, status: int = 200, **extra: Any) -> Response:
    entries = audit_log(site.deps.records, policy.domain)[::-1]
    return site.render(
        "domain.html", status, policy=policy, entries=entries, channels=CHANNELS, **extra
    )


@views.get("/dashboard/domain")
@page
def domain(site: Site) -> Response:
    policy = site.admin_policy()
    return domain_page(site, policy) if policy else not_found()


def policy_change(form: Any, user: str) -> PolicyChange:
    """The posted form as a change; InvalidInput says which field is wrong."""
    days = form.get("retention_days", "").strip()
    retention = whole_number(days) if days else None
    if days and retention is None:
        raise InvalidInput(f"retention days must be a whole number, not {days[:20]!r}")
    admins = [a for a in form.get("admins", "").replace(",", " ").split() if a]
    if user not in [a.lower() for a in admins]:
        raise InvalidInput("keep yourself among the admins (another admin can remove you)")
    return PolicyChange(
        tracking=form.get("tracking") == "on",
        track_internal=form.get("track_internal") == "on",
        retention_days=retention,
        channels=[c for c in CHANNELS if form.get(f"channel_{c}") == "on"],
        disclosure=form.get("disclosure", ""),
        admins=admins if admins else KEEP,
        webhook_url=form.get("webhook_url", "") if "webhook_url" in form else KEEP,
    )


@views.post("/dashboard/domain")
@page
def save_domain(site: Site) -> Response:
    policy = site.admin_policy()
    if policy is None:
        return not_found()  # the same 404 as the page gives a non-admin
    if not site.form_ok():
        return form_expired()
    deps = site.deps
    try:
        change = policy_change(request.form, g.user)
        now = deps.clock.now()
        hosts = deps.settings.rules.allow_hosts
        updated = update_policy(
            deps.records, policy.domain, change, actor=g.user, at=now, allow_hosts=hosts
        )
        enforce_retention(deps.store, updated, now)
    except InvalidInput as exc:
        return domain_page(site, policy, 400, problem=str(exc))
    return domain_page(site, updated, saved=True)
