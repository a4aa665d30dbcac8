"""What every command shares: its configuration, read once from flags and the environment."""

from __future__ import annotations

import argparse

from mailbeacon.store import SettingsStore

from ..config import AppConfig, load_config


def config_of(args: argparse.Namespace) -> AppConfig:
    """The configuration for this command: the environment, with the flags it was given."""
    return load_config(
        args.env,
        data_dir=getattr(args, "data_dir", None),
        public_url=getattr(args, "public_url", None),
        trust_proxy=getattr(args, "trust_proxy", None),
        insecure_dev_auth=getattr(args, "insecure_dev_auth", None) or None,
    )


def require_data(config: AppConfig, *, message_id: str | None = None) -> AppConfig:
    """Refuse a command that only reads when there is no data to read: it must not create a
    database and a secret in a mistyped --data-dir. A missing folder is bad input (exit 2);
    in a folder that exists but holds nothing yet, the ``message_id`` asked about is simply
    unknown (exit 1), as it would be once something is tracked there."""
    from mailbeacon.errors import InvalidInput, UnknownMessage

    core = config.core
    if core.store == "sqlite" and not (core.data_dir / "mailbeacon.db").exists():
        if message_id is not None and core.data_dir.is_dir():
            raise UnknownMessage(
                f"no tracked message {message_id!r}: nothing is tracked in {core.data_dir} yet"
            )
        raise InvalidInput(
            f"no Mailbeacon data in {core.data_dir}: give the --data-dir `mailbeacon serve`"
            " uses (or MAILBEACON_DATA_DIR), or track an email first"
        )
    return config


def zone_of(store: SettingsStore, user: str, asked: str | None) -> str:
    """The zone to print times in: ``--timezone``, else the user's saved one, else UTC."""
    from mailbeacon import localtime

    return localtime.asked_or_saved(
        asked, lambda: store.get_settings(user).timezone, field="--timezone", kind="a time zone"
    )
