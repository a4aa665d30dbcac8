"""Running and deploying: `serve`, `digest`, `deploy` and `addon-deployment`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mailbeacon.bus import NOTIFY
from mailbeacon.clock import iso
from mailbeacon.validation import check_email

from ..bootstrap import bootstrap
from .common import config_of, require_data


def cmd_serve(args: argparse.Namespace) -> int:
    from ..server import serve

    return serve(config_of(args), host=args.host, port=args.port)


def cmd_digest(args: argparse.Namespace) -> int:
    """Send one digest now; pending alerts go first, hits stay with the server's worker."""
    email = check_email(args.user)
    app = bootstrap(require_data(config_of(args)))
    try:
        if app.worker is not None:  # alerts already decided; hits stay with the server's worker
            app.worker.drain([NOTIFY], include_leased=True)
        outcome = app.notifier.send_digest(email, key=f"digest-now-{iso(app.clock.now())}")
        settings = app.store.get_settings(email)
    finally:
        app.close()
    if args.json:
        print(json.dumps({"user": email, "outcome": outcome, "problems": list(settings.problems)}))
    else:
        print(f"digest for {email}: {outcome}")
        for problem in settings.problems:
            print(f"  problem: {problem}")
    return 0


def cmd_addon_deployment(args: argparse.Namespace) -> int:
    from addon.deployment import DEFAULT_LOGO, write_deployment

    path = None if args.output == "-" else Path(args.output)
    text = write_deployment(
        path, args.base_url, name=args.name, logo_url=args.logo_url or DEFAULT_LOGO
    )
    if path is None:
        print(text, end="")
    else:
        print(
            f"wrote {path}; next: gcloud workspace-add-ons deployments create mailbeacon"
            f" --deployment-file={path}"
        )
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from ..deploy import DeployConfig, deploy

    config = DeployConfig.from_settings(
        args.project,
        args.region,
        args.env,
        public_url=args.public_url,
        retention_days=args.retention_days,
    )
    source_dir = args.source_dir.expanduser().absolute()  # from the caller's directory
    if args.check:
        from ..deploy import check

        return check(config, args.env)
    if args.rehearse:
        from ..rehearsal import rehearse

        return rehearse(config, source_dir=source_dir)
    return deploy(config, source_dir=source_dir, dry_run=args.dry_run, env=args.env)
