"""The configuration is read in one place (functions/config.py) and refuses malformed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.config import load_config
from mailbeacon.errors import InvalidInput


def test_every_part_is_configured_from_one_mapping() -> None:
    config = load_config(
        {
            "MAILBEACON_DATA_DIR": "/srv/mb",
            "MAILBEACON_TRUST_PROXY": "1",
            "MAILBEACON_RETENTION_DAYS": "30",
            "MAILBEACON_WEBHOOK_ALLOW_HOSTS": "127.0.0.1:9000, relay.internal",
            "MAILBEACON_SLACK_SIGNING_SECRET": "s3cret",
            "MAILBEACON_ADDON_CLIENT_ID": "a.apps.googleusercontent.com,b",
            "MAILBEACON_GOOGLE_CERTS_URL": "http://127.0.0.1:1/certs",
            "MAILBEACON_WORKER": "off",
            "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        },
        public_url="https://mb.example",
    )
    core = config.core
    assert (core.data_dir, core.trust_proxy, core.retention.days, core.worker) == (
        Path("/srv/mb"),
        1,
        30,
        False,
    )
    assert core.public_url == "https://mb.example" and core.pubsub_emulator_host == "127.0.0.1:8085"
    assert core.webhook_allow_hosts == ("127.0.0.1:9000", "relay.internal")
    assert config.notifier.webhook_allow_hosts == core.webhook_allow_hosts
    assert config.notifier.slack_signing_secret == "s3cret"
    assert config.addon.client_ids == ("a.apps.googleusercontent.com", "b")
    assert config.addon.certs_url == config.notifier.google_certs_url == "http://127.0.0.1:1/certs"


def test_flags_win_over_the_environment_and_none_means_not_given() -> None:
    config = load_config({"MAILBEACON_TRUST_PROXY": "2"}, trust_proxy=None, data_dir="x")
    assert (config.core.trust_proxy, config.core.data_dir) == (2, Path("x"))
    assert load_config({"MAILBEACON_TRUST_PROXY": "2"}, trust_proxy=0).core.trust_proxy == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAILBEACON_TRUST_PROXY", "abc"),
        ("MAILBEACON_TRUST_PROXY", "-1"),
        ("MAILBEACON_RETENTION_DAYS", "0"),
        ("MAILBEACON_SQLITE_SYNC", "OFF"),
        ("MAILBEACON_STORE", "postgres"),
        ("MAILBEACON_WORKER", "maybe"),
        ("MAILBEACON_NOTIFY_TIMEOUT", "inf"),
        ("MAILBEACON_SMTP_PORT", "99999"),
    ],
)
def test_a_malformed_value_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=name):
        load_config({name: value})
