"""Tokens: signed, compact, rotation-friendly, and closed to anything forged or malformed."""

from __future__ import annotations

import os
import stat

import pytest

from mailbeacon.errors import InvalidToken
from mailbeacon.tokens import Keyring, TokenSigner, load_keyring, new_message_id

OLD = Keyring.parse("1:old-secret-0123456789abcdef")
NEW = Keyring.parse("2:new-secret-0123456789abcdef,1:old-secret-0123456789abcdef")


def test_pixel_token_round_trips_and_is_compact() -> None:
    signer = TokenSigner(NEW)
    message_id = new_message_id()
    token = signer.pixel(message_id)
    claims = signer.verify(token)
    assert (claims.kind, claims.message_id, claims.url) == ("open", message_id, None)
    assert len(token) <= 48
    assert all(c.isalnum() or c in "-_" for c in token)


def test_link_token_carries_its_url_and_index() -> None:
    signer = TokenSigner(NEW)
    message_id = new_message_id()
    url = "https://example.com/pricing?plan=pro&ref=a%20b#top"
    claims = signer.verify(signer.link(message_id, 3, url))
    assert (claims.kind, claims.message_id, claims.link_index, claims.url) == (
        "click",
        message_id,
        3,
        url,
    )


def test_tokens_never_expose_addresses() -> None:
    signer = TokenSigner(NEW)
    token = signer.link(new_message_id(), 1, "https://example.com/")
    assert "@" not in token and "example" not in token


def test_rotation_old_keys_still_verify_new_tokens_use_new_key() -> None:
    message_id = new_message_id()
    old_token = TokenSigner(OLD).pixel(message_id)
    rotated = TokenSigner(NEW)
    assert rotated.verify(old_token).message_id == message_id
    assert rotated.pixel(message_id) != old_token
    with pytest.raises(InvalidToken):
        TokenSigner(OLD).verify(rotated.pixel(message_id))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t[:10],
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # flipped MAC
        lambda t: "B" + t[1:],  # other key id
        lambda t: t + "AAAA",  # extended
        lambda t: "!!" + t,  # not base64url
        lambda t: "",
        lambda t: "A" * 5000,  # huge
    ],
)
def test_forged_or_malformed_tokens_are_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    signer = TokenSigner(NEW)
    with pytest.raises(InvalidToken):
        signer.verify(mutate(signer.pixel(new_message_id())))


def test_a_token_from_another_secret_is_refused() -> None:
    other = TokenSigner(Keyring.parse("2:someone-elses-secret-value"))
    with pytest.raises(InvalidToken):
        TokenSigner(NEW).verify(other.pixel(new_message_id()))


def test_fixed_vector_stays_valid() -> None:
    """A token issued by an earlier release keeps working: the format is a contract."""
    signer = TokenSigner(Keyring.parse("7:fixed-vector-secret-abcdef"))
    token = signer.pixel("AAAAAAAAAAAAAAAA")
    assert token == "BwFvAAAAAAAAAAAAAAAA4r9v39Fbr3jkyc1KkSFNjw"
    assert signer.verify(token).message_id == "AAAAAAAAAAAAAAAA"


def test_local_secret_is_generated_once_with_mode_0600(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_keyring(tmp_path)
    second = load_keyring(tmp_path)
    assert first == second
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600


def test_environment_secret_wins_and_bad_ones_fail_loudly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ring = load_keyring(tmp_path, "3:env-secret-0123456789abc")
    assert ring.current == 3
    assert not (tmp_path / "secret").exists()
    with pytest.raises(ValueError):
        Keyring.parse("1:short")
