"""Message ids are typed on command lines, so none may look like an option."""

from __future__ import annotations

from mailbeacon.tokens import message_id_bytes, new_message_id


def test_message_ids_never_start_with_a_dash() -> None:
    ids = [new_message_id() for _ in range(3000)]  # ~47 would start with "-" by chance
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(message_id_bytes(i)) == 12 for i in ids[:50])
