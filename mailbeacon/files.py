"""The data directory is private: it holds webhook URLs, Slack bot tokens, recipients, subjects
and the signing secret. The directory is 0700 and what we create in it 0600, whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700; an older 0755 one is tightened."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, and make it 0600 (also when an older run left it 0644)."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    if path.stat().st_mode & 0o777 != FILE_MODE:
        os.chmod(path, FILE_MODE)
    return path


def replace_private(path: Path, data: bytes) -> None:
    """Put a new private file at ``path``: written aside and renamed into place, so a process
    that still has the old one open or mapped keeps it whole."""
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(aside, path)


def write_private(path: Path, text: str) -> None:
    """Write a small file that only the owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, FILE_MODE)
