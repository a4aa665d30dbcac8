"""The list's substring search (``q``) on SQLite, from an index of every message's trigrams.

Scanning the search text of every one of a user's messages costs about 0.5 µs a row: 50 ms
and more at 100,000 messages whenever few of them match (a recipient's address, a rare word).
``search_grams`` holds each distinct three-character window of each message's search text
(``(gram, seq)``, ``seq`` the message's stable number), so every message that contains ``q``
holds all of ``q``'s grams. A search counts the postings of ``q``'s grams (at most ``cap``
each), and when one is rare it reads the messages holding the rarest few grams and keeps
those whose text contains ``q`` (``instr``, as before): the same rows as the scan, from a few
hundred index entries. When every gram is common the term matches many messages and the
ordered scan finds a page of them early, so that plan stays. (FTS5's trigram index was tried:
it intersects every gram's whole list, common ones included, and was no faster; it also keeps
deleted postings in old segments, where ``secure_delete`` cannot zero them.)

The postings are written in the same transaction as the text they index: a message added,
its recipients changed when it was sent, the message or its user deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .database import Database

CAP = 1000
"""Postings counted per gram: a gram rarer than this makes the index the cheaper plan."""
ROW_COST = 5
"""How many times more a scan that reads each row (a status, the activity order) costs per
message than one that reads only index entries: its cap is this many times higher."""
MAX_GRAMS = 24
"""Grams of a long ``q`` whose postings are counted (windows spread over it)."""
CHECKED = 3
"""The rarest grams whose postings a candidate must be in."""


def grams(text: str) -> set[str]:
    """Every three-character window of ``text`` (none when it is shorter)."""
    return {text[i : i + 3] for i in range(len(text) - 2)}


def index(conn: sqlite3.Connection, seq: int, text: str, old: str = "") -> None:
    """Index ``text`` as message ``seq``'s search text (replacing ``old``)."""
    new, gone = grams(text), grams(old)
    _unindex(conn, seq, gone - new)
    conn.executemany(
        "INSERT OR IGNORE INTO search_grams VALUES (?, ?)", [(g, seq) for g in sorted(new - gone)]
    )


def unindex(conn: sqlite3.Connection, seq: int, text: str) -> None:
    """Drop message ``seq``'s postings (its search text was ``text``)."""
    _unindex(conn, seq, grams(text))


def _unindex(conn: sqlite3.Connection, seq: int, found: Iterable[str]) -> None:
    conn.executemany(
        "DELETE FROM search_grams WHERE gram = ? AND seq = ?", [(g, seq) for g in found]
    )


NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM messages)"
"""A new message's number (messages_seq makes it one index lookup). Not the rowid, which a
VACUUM may renumber."""


def candidates(db: Database, q: str, cap: int = CAP) -> tuple[str, list[str]] | None:
    """A query of the ``seq`` of every message whose search text may contain ``q`` (a
    superset: the caller still matches ``q``), or None when the scan is the cheaper plan."""
    found = sorted(grams(q))
    if not found or cap <= 0:  # shorter than a gram, or the index turned off (cap 0)
        return None
    if len(found) > MAX_GRAMS:
        step = len(found) / MAX_GRAMS
        found = [found[int(i * step)] for i in range(MAX_GRAMS)]
    counted = []
    for gram in found:
        ((n,),) = db.read(
            "SELECT COUNT(*) FROM (SELECT 1 FROM search_grams WHERE gram = ? LIMIT ?)",
            (gram, cap),
        )
        if n == 0:
            return "SELECT NULL AS seq WHERE 0", []
        counted.append((n, gram))
    counted.sort()
    if counted[0][0] >= cap:
        return None
    rarest, *others = [gram for _, gram in counted[:CHECKED]]
    checks = "".join(
        " AND EXISTS (SELECT 1 FROM search_grams o WHERE o.gram = ? AND o.seq = g.seq)"
        for _ in others
    )
    return f"SELECT g.seq AS seq FROM search_grams g WHERE g.gram = ?{checks}", [rarest, *others]
