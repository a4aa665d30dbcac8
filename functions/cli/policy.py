"""`mailbeacon policy`: show or change a domain's policy, or read its audit log."""

from __future__ import annotations

import argparse
import json

from mailbeacon.policy import (
    KEEP,
    PolicyChange,
    audit_log,
    check_change,
    check_domain,
    enforce_retention,
    get_policy,
    update_policy,
)

from ..bootstrap import bootstrap
from .common import config_of

CLI_ACTOR = "command line"
"""Who the audit log says made a change from the CLI (whoever may run it is the operator)."""


def change_of(args: argparse.Namespace) -> PolicyChange:
    """The flags given, as one change; flags not given keep their field."""
    disclosure = None if args.no_disclosure else args.disclosure
    return PolicyChange(
        tracking=KEEP if args.tracking is None else args.tracking,
        track_internal=KEEP if args.track_internal is None else args.track_internal,
        retention_days=KEEP if args.retention_days is None else args.retention_days or None,
        channels=KEEP if args.channels is None else args.channels,
        disclosure=KEEP if args.disclosure is None and not args.no_disclosure else disclosure,
        admins=KEEP if args.admin is None else args.admin,
        webhook_url=KEEP if args.webhook_url is None else args.webhook_url,
        user_webhooks=KEEP if args.user_webhooks is None else args.user_webhooks,
    )


def cmd_policy(args: argparse.Namespace) -> int:
    domain = check_domain(args.domain)
    change = change_of(args)
    config = config_of(args)
    allow_hosts = config.core.webhook_allow_hosts
    check_change(change, allow_hosts)  # refuse before the store exists
    app = bootstrap(config)
    try:
        if args.audit:
            return _print_audit(args, audit_log(app.records, domain))
        if change.empty:
            policy = get_policy(app.records, domain)
        else:
            now = app.clock.now()
            policy = update_policy(
                app.records, domain, change, actor=CLI_ACTOR, at=now, allow_hosts=allow_hosts
            )
            enforce_retention(app.store, policy, now)
    finally:
        app.close()
    data = policy.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for key, value in data.items():
            shown = ",".join(value) if isinstance(value, list) else value
            if isinstance(shown, bool):
                shown = "on" if shown else "off"
            print(f"{key}: {'' if shown is None else shown}")
    return 0


def _print_audit(args: argparse.Namespace, entries: list) -> int:  # type: ignore[type-arg]
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no policy changes recorded for {args.domain.lower()}")
    for entry in entries:
        changed = "; ".join(
            f"{name}: {json.dumps(c['from'])} -> {json.dumps(c['to'])}"
            for name, c in entry.changes.items()
        )
        print(f"{entry.to_dict()['at']} {entry.actor}: {changed}")
    return 0
