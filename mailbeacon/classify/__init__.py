"""Give every hit a verdict with reasons. A pure function of the hit and its context.

The rules live in `rules` (precedence order, each citing its source), the user-agent reading
in `useragent`, the per-strictness windows in `policy`. Hostile input never raises: anything
unexpected ends as ``bot`` with the reason ``unclassifiable``.
"""

from __future__ import annotations

import logging

from ..model import Classification, Hit, MessageContext, Verdict
from .facts import gather
from .rules import RULES, human

log = logging.getLogger(__name__)

__all__ = ["classify"]


def classify(hit: Hit, context: MessageContext) -> Classification:
    """The verdict for one hit: the first rule that speaks, else human."""
    try:
        facts = gather(hit, context)
        for rule in RULES:
            result = rule(facts)
            if result is not None:
                return result
        return human(facts)
    except Exception:  # label, never drop: a bug here must not lose the hit
        log.exception("classifier failed on hit %s", getattr(hit, "id", "?"))
        return Classification(Verdict.BOT, ("unclassifiable",), "other")
