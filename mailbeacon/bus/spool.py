"""The hit spool: append-only files of framed records, the edge's only durable step.

A hit costs one ``os.write`` of one frame on an ``O_APPEND`` file: once that returns, the
record is in the kernel's page cache and survives the process being killed (as SQLite's
``synchronous=NORMAL`` does). With ``sync=True`` (``MAILBEACON_SQLITE_SYNC=FULL``) the writer
also waits for an ``fdatasync`` covering its record before the pixel answers; concurrent
writers share one ``fdatasync`` (group commit), so power-loss safety costs one disk flush per
batch of hits, not per hit. A writer that must not block (an event loop) appends with
``wait=False`` and has another thread ``flush`` and tell it which tickets are durable.

Frame: ``magic (2) | payload length (4, LE) | CRC-32 of payload (4, LE) | payload``.

Files are segments ``hits-<n>.log``. A writer always starts a new segment when it opens, so
a segment left by a crashed process is never appended to again: a torn last frame there is
known to be torn (and skipped with a warning) rather than a write still in progress. In the
newest segment an incomplete frame is taken for a write in progress only while that can be
true: a frame is one ``write`` of a writer that appends under a lock, so a whole, valid
frame after it, or a file untouched for ``TORN_SECONDS``, shows a corrupt header (a fake
length of 60 KB used to stall processing until 60 KB of later hits had arrived).

A spool has one writer per *lane*: each edge process of `mailbeacon serve` appends to its own
lane, a directory of segments with its own cursor, so the rules above (one writer, a new
segment per open) hold per lane. Lane 0 is the spool directory itself (data dirs from before
lanes are lane 0 as they are), lane k its ``lane-<k>`` subdirectory (``lane_dir``). Readers
take every lane present on disk (``lanes``), looked up each time: a lane may appear while
they run, and lanes of a previous run with more processes still hold hits.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..files import private_dir

log = logging.getLogger(__name__)

MAGIC = b"\xb7\x4d"
HEADER = struct.Struct("<2sII")
MAX_RECORD = 64 << 10
CHUNK_BYTES = 1 << 20
SEGMENT_BYTES = 64 << 20
LANE_PREFIX = "lane-"
TORN_SECONDS = 2.0
"""An incomplete frame at the end of a file nobody wrote to for this long is torn."""


@dataclass(frozen=True, order=True)
class Position:
    """Where a reader is: a segment number and a byte offset in it."""

    segment: int
    offset: int


def frame(payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"hits-{number:08d}.log"


def lane_dir(spool_dir: Path, lane: int) -> Path:
    """Where lane ``lane``'s segments are: the spool directory itself for lane 0."""
    if lane < 0:
        raise ValueError(f"a spool lane is 0 or more, not {lane}")
    return spool_dir / f"{LANE_PREFIX}{lane}" if lane else spool_dir


def lanes(spool_dir: Path) -> list[int]:
    """The lanes present, in order: 0 (always) and every ``lane-<k>`` directory, from one
    listing of the spool directory."""
    found = [0]
    try:
        with os.scandir(spool_dir) as entries:
            for entry in entries:
                number = lane_number(entry.name)
                if number and entry.is_dir():
                    found.append(number)
    except (FileNotFoundError, NotADirectoryError):
        return found
    return sorted(found)


def lane_number(name: str) -> int | None:
    """k for ``lane-<k>`` spelt canonically (``lane-01`` would be a second lane 1), else None."""
    number = name[len(LANE_PREFIX) :]
    if not (name.startswith(LANE_PREFIX) and number.isascii() and number.isdigit()):
        return None
    return int(number) if number == str(int(number)) else None


def segments(directory: Path) -> list[int]:
    """Segment numbers present, in order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith("hits-") and name.endswith(".log"):
            try:
                found.append(int(name[5:-4]))
            except ValueError:
                continue
    return sorted(found)


class SpoolWriter:
    """Appends frames to the newest segment; thread-safe; opens its segment on first use."""

    def __init__(
        self,
        directory: Path,
        *,
        sync: bool = False,
        segment_bytes: int = SEGMENT_BYTES,
        root: Path | None = None,
    ):
        self.directory = directory
        self.root = root
        """The spool directory when ``directory`` is a lane in it: made private first."""
        self.sync = sync
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._fd = -1
        self._segment = 0
        self._size = 0
        # group commit: sequence numbers of appended and of flushed frames
        self._appended = 0
        self._synced = 0
        self._syncing = False
        self._synced_cond = threading.Condition(threading.Lock())
        self._retired: list[int] = []  # rotated-out segments not flushed yet (sync only)

    def _open(self, number: int) -> None:
        fd = os.open(
            segment_path(self.directory, number),
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
            0o600,
        )
        if self._fd >= 0:
            if self.sync:  # its last records are flushed (and it is closed) by the next flush
                self._retired.append(self._fd)
            else:
                os.close(self._fd)
        self._fd, self._segment, self._size = fd, number, os.fstat(fd).st_size
        if self.sync:  # make the new file's directory entry durable too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def append(self, payload: bytes, *, wait: bool = True) -> int:
        """Write one record and return its ticket; raises OSError if it is not (entirely)
        written. With ``sync``, returns once it is flushed, unless ``wait`` is False: then
        the caller learns it from ``flush``, which returns the last ticket it covered."""
        data = frame(payload)
        with self._lock:
            if self._fd < 0:
                if self.root is not None:  # mkdir would make a missing parent world-readable
                    private_dir(self.root)
                private_dir(self.directory)  # hits are personal data: owner-only, like the db
                existing = segments(self.directory)
                self._open((existing[-1] + 1) if existing else 1)
            before = self._size
            try:
                written = os.write(self._fd, data)
            except OSError:
                self._cut(before)
                raise
            if written != len(data):  # a short write (disk full): take the partial frame back
                self._cut(before)
                raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
            self._size = before + written
            self._appended += 1
            ticket = self._appended
            if self._size >= self.segment_bytes:
                self._open(self._segment + 1)
        if self.sync and wait:
            self._wait_synced(ticket)
        return ticket

    def _cut(self, size: int) -> None:
        with contextlib.suppress(OSError):  # if this fails too, the reader skips the torn frame
            os.ftruncate(self._fd, size)

    def _wait_synced(self, ticket: int) -> None:
        """Return once an fdatasync that started after our write has finished."""
        cond = self._synced_cond
        with cond:
            while self._synced < ticket:
                if self._syncing:
                    cond.wait()
                    continue
                self._syncing = True
                cond.release()
                try:
                    self.flush()
                finally:
                    cond.acquire()
                    self._syncing = False
                cond.notify_all()

    def flush(self) -> int:
        """``fdatasync`` what was appended so far; returns the last ticket now durable.

        Works on a duplicate of the descriptor, so a rotation meanwhile cannot close it
        under us; segments rotated out since the last flush are flushed and closed first.
        """
        with self._lock:
            target, retired = self._appended, self._retired
            self._retired = []
            fd = os.dup(self._fd) if self._fd >= 0 else -1
        try:
            for old in retired:
                try:
                    os.fdatasync(old)
                finally:
                    os.close(old)
            if fd >= 0:
                os.fdatasync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        with self._synced_cond:
            self._synced = max(self._synced, target)
        return target

    def close(self) -> None:
        with self._lock:
            for old in self._retired:
                os.close(old)
            self._retired = []
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass
class Batch:
    """Records read from a position, and where the next read starts."""

    records: list[bytes]
    start: Position
    end: Position
    finished: list[int]  # segments wholly consumed (to delete once ``end`` is committed)


def read(
    directory: Path, start: Position, *, max_records: int = 256, chunk: int = CHUNK_BYTES
) -> Batch:
    """Read whole records from ``start``; torn or corrupt bytes are skipped with a warning.

    An incomplete frame at the end of the newest segment is a write in progress and is left
    for a later read; at the end of an older segment it can only be a torn write (its writer
    started a new segment when it opened, or the writer is gone), so it is skipped.
    """
    records: list[bytes] = []
    finished: list[int] = []
    position = start
    numbers = [n for n in segments(directory) if n >= start.segment]
    for i, number in enumerate(numbers):
        newest = i == len(numbers) - 1
        if number > position.segment:
            position = Position(number, 0)
        try:
            with open(segment_path(directory, number), "rb") as fh:
                stat = os.fstat(fh.fileno())
                size = stat.st_size
                fh.seek(position.offset)
                data = fh.read(chunk)
        except FileNotFoundError:
            continue  # consumed and removed by a reader that committed past it
        used, got, whole = _parse(data, max_records - len(records), number, position.offset)
        records.extend(got)
        position = Position(number, position.offset + used)
        if newest and not whole and len(records) < max_records:
            position = _skip_stale_tail(number, position, size, stat.st_mtime)
        if newest or len(records) >= max_records:
            break
        if position.offset + (len(data) - used) < size:
            break  # a bounded chunk: the rest of this segment on the next read
        if not whole:
            log.warning(
                "hit spool: segment %s ends in a torn record; %s bytes skipped",
                number,
                size - position.offset,
            )
        finished.append(number)
        position = Position(number + 1, 0)
    return Batch(records, start, position, finished)


def _skip_stale_tail(number: int, position: Position, size: int, mtime: float) -> Position:
    """Past an incomplete frame at the end of the newest segment when no write can still be
    finishing it (see the module's docstring); else where we are, to read it again later."""
    if time.time() - mtime < TORN_SECONDS:
        return position
    log.warning(
        "hit spool: segment %s ends in a torn record; %s bytes skipped",
        number,
        size - position.offset,
    )
    return Position(number, size)


def _parse(data: bytes, limit: int, number: int, base: int) -> tuple[int, list[bytes], bool]:
    """Frames in ``data``: (bytes consumed, records, whether it ended on a frame boundary)."""
    records: list[bytes] = []
    offset = 0
    size = len(data)
    header = HEADER.size
    unpack = HEADER.unpack_from
    while offset < size and len(records) < limit:
        if size - offset < header:
            return offset, records, False
        magic, length, crc = unpack(data, offset)
        end = offset + header + length
        if magic == MAGIC and length <= MAX_RECORD and end > size:
            whole = _next_whole(data, offset + 1)
            if whole is None:
                return offset, records, False  # a write in progress, or the chunk's end
            log.warning(  # payloads are ASCII JSON: a frame inside one cannot be a real one
                "hit spool: a record at segment %s offset %s claims %s bytes; %s bytes skipped",
                number,
                base + offset,
                length,
                whole - offset,
            )
            offset = whole
            continue
        if magic == MAGIC and length <= MAX_RECORD:
            payload = data[offset + header : end]
            if zlib.crc32(payload) == crc:
                records.append(payload)
                offset = end
                continue
        skip = _resync(data, offset + 1)
        log.warning(
            "hit spool: corrupt record at segment %s offset %s; %s bytes skipped",
            number,
            base + offset,
            skip - offset,
        )
        offset = skip
    return offset, records, True


def _next_whole(data: bytes, start: int) -> int | None:
    """The offset of the next whole, valid frame in ``data`` at or after ``start``, if any."""
    at = data.find(MAGIC, start)
    while at >= 0 and len(data) - at >= HEADER.size:
        _, length, crc = HEADER.unpack_from(data, at)
        end = at + HEADER.size + length
        valid = length <= MAX_RECORD and end <= len(data)
        if valid and zlib.crc32(data[at + HEADER.size : end]) == crc:
            return at
        at = data.find(MAGIC, at + 1)
    return None


def _resync(data: bytes, start: int) -> int:
    """The offset of the next plausible frame at or after ``start`` (else the end of ``data``).

    A frame that runs past the end of ``data`` counts as plausible: the next read, with more
    bytes in hand, checks its checksum.
    """
    at = data.find(MAGIC, start)
    while at >= 0:
        if len(data) - at < HEADER.size:
            return at
        _, length, crc = HEADER.unpack_from(data, at)
        end = at + HEADER.size + length
        if length <= MAX_RECORD and (
            end > len(data) or zlib.crc32(data[at + HEADER.size : end]) == crc
        ):
            return at
        at = data.find(MAGIC, at + 1)
    return len(data)


def backlog(directory: Path, start: Position | None) -> tuple[int, bytes | None]:
    """Bytes past ``start`` (None: the oldest segment's start), from the segments' sizes
    alone, and the first record there (one frame read, for its time). For `/healthz`, which
    must not read a backlog of a million hits to say there is one."""
    numbers = segments(directory)
    if not numbers:
        return 0, None
    start = start or Position(numbers[0], 0)
    waiting = 0
    for number in numbers:
        if number >= start.segment:
            with contextlib.suppress(FileNotFoundError):
                size = segment_path(directory, number).stat().st_size
                waiting += max(0, size - (start.offset if number == start.segment else 0))
    return waiting, (_first_record(directory, start, numbers) if waiting else None)


def _first_record(directory: Path, start: Position, numbers: list[int]) -> bytes | None:
    for number in numbers:
        if number < start.segment:
            continue
        try:
            with open(segment_path(directory, number), "rb") as fh:
                fh.seek(start.offset if number == start.segment else 0)
                head = fh.read(HEADER.size)
                if len(head) < HEADER.size:
                    continue  # this segment is consumed: the next one holds it
                magic, length, crc = HEADER.unpack(head)
                payload = fh.read(length) if magic == MAGIC and length <= MAX_RECORD else b""
        except FileNotFoundError:
            continue
        return payload if len(payload) == length and zlib.crc32(payload) == crc else None
    return None


def iter_pending(directory: Path, start: Position) -> Iterator[bytes]:
    """Every whole record from ``start`` to the end (readers that do not advance a cursor)."""
    position = start
    while True:
        batch = read(directory, position, max_records=4096)
        yield from batch.records
        if batch.end == position:
            return
        position = batch.end


def find_pending(directory: Path, start: Position, needle: bytes) -> list[bytes]:
    """Whole records from ``start`` on that contain ``needle``, oldest first.

    For readers that want a few records out of a long backlog (one message's hits): the bytes
    are searched at C speed and only the frames around a match are parsed, so a backlog of a
    hundred thousand other hits costs a memory scan, not a hundred thousand decodes.
    """
    found: list[bytes] = []
    for number in (n for n in segments(directory) if n >= start.segment):
        offset = start.offset if number == start.segment else 0
        try:
            with open(segment_path(directory, number), "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size <= offset:
                    continue
                with mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as data:
                    found.extend(_frames_around(data, offset, needle))
        except FileNotFoundError:
            continue
    return found


def _frames_around(data: mmap.mmap, offset: int, needle: bytes) -> Iterator[bytes]:
    at = data.find(needle, offset)
    while at >= 0:
        begin = data.rfind(MAGIC, offset, at)
        end = at + 1
        while begin >= 0:
            if len(data) - begin >= HEADER.size:
                _, length, crc = HEADER.unpack_from(data, begin)
                end = begin + HEADER.size + length
                payload = data[begin + HEADER.size : end]
                if end > at and len(payload) == length and zlib.crc32(payload) == crc:
                    yield payload
                    break
            begin = data.rfind(MAGIC, offset, begin)
            end = at + 1
        at = data.find(needle, max(end, at + 1))


def remove(directory: Path, numbers: list[int]) -> None:
    for number in numbers:
        with contextlib.suppress(FileNotFoundError):
            segment_path(directory, number).unlink()
