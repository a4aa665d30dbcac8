"""Everything Mailbeacon keeps, behind one port per kind of consumer (ports.py).

Adapters: memory (the fake the service tests run on), sqlite (the embedded default, a package
with one module per port) and firestore (the cloud, likewise). Each composes one ``Store`` of
its parts, and its Records part is an object of its own (``store.records``).
"""

from __future__ import annotations

from .ports import (
    CONTEXT_EVENTS,
    Housekeeping,
    MessageEvents,
    MessageFacts,
    MessageReports,
    MessageStore,
    PipelineStore,
    Removed,
    ReportingStore,
    SettingsStore,
    Store,
    assemble_context,
)

__all__ = [
    "CONTEXT_EVENTS",
    "Housekeeping",
    "MessageEvents",
    "MessageFacts",
    "MessageReports",
    "MessageStore",
    "PipelineStore",
    "Removed",
    "ReportingStore",
    "SettingsStore",
    "Store",
    "assemble_context",
]
