"""What every command shares: its configuration, read once from flags and the environment."""

from __future__ import annotations

import argparse

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
