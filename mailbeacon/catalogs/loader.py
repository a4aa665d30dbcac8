"""Load the catalogues and tag addresses with them at the edge.

Refreshed copies in the data dir (``catalogs/NAME.bin``, written by `catalogs refresh`) win over
the snapshot shipped in the package. The package ships each snapshot twice: ``NAME.txt`` to
read (source, date, networks) and ``NAME.bin`` compiled from it (``python -m
mailbeacon.catalogs.loader`` rewrites them; a test checks they agree). Loading waits for the
first hit and then costs about a millisecond (compiled arrays read straight from bytes; parsing
Apple's text would take 35 ms), so a pixel cold start does not pay for catalogues it never
consults.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from . import SOURCES
from .ranges import IpAddress, RangeSet

log = logging.getLogger(__name__)

PACKAGED = Path(__file__).with_name("data")


def read_cidr_lines(text: str) -> list[str]:
    """The networks of a catalogue text file: one per line, ``#`` starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def load_one(name: str, refreshed_dir: Path | None = None) -> RangeSet:
    """One catalogue: the refreshed compiled copy, else the packaged one, else its text."""
    for directory in (refreshed_dir, PACKAGED):
        if directory is None:
            continue
        compiled = directory / f"{name}.bin"
        try:
            return RangeSet.from_bytes(compiled.read_bytes())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("ignoring damaged catalogue %s: %s", compiled, exc)
    snapshot = PACKAGED / f"{name}.txt"
    try:
        return RangeSet.from_networks(read_cidr_lines(snapshot.read_text()))
    except OSError:
        return RangeSet.from_networks(())


def load_all(refreshed_dir: Path | None = None) -> dict[str, RangeSet]:
    return {source.name: load_one(source.name, refreshed_dir) for source in SOURCES}


class CatalogTagger:
    """The edge's NetworkTagger: the names of the catalogues an address falls in.

    Loads on first use, once, under a lock; a catalogue that fails to load is simply empty.
    """

    def __init__(self, refreshed_dir: Path | None = None) -> None:
        self.refreshed_dir = refreshed_dir
        self._catalogs: tuple[tuple[str, RangeSet], ...] | None = None
        self._lock = threading.Lock()

    def catalogs(self) -> tuple[tuple[str, RangeSet], ...]:
        if self._catalogs is None:
            with self._lock:
                if self._catalogs is None:
                    self._catalogs = tuple(load_all(self.refreshed_dir).items())
        return self._catalogs

    def __call__(self, address: IpAddress) -> tuple[str, ...]:
        return tuple(name for name, ranges in self.catalogs() if address in ranges)


def compile_packaged() -> list[str]:
    """Rewrite every packaged ``NAME.bin`` from its ``NAME.txt``; the names written."""
    names = []
    for source in SOURCES:
        text = (PACKAGED / f"{source.name}.txt").read_text()
        ranges = RangeSet.from_networks(read_cidr_lines(text))
        (PACKAGED / f"{source.name}.bin").write_bytes(ranges.to_bytes())
        names.append(source.name)
    return names


if __name__ == "__main__":
    print("compiled:", ", ".join(compile_packaged()))
