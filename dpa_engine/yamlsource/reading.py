"""Reading an input file safely: a regular file of bounded size, UTF-8, every problem one
error naming the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import DpaError, InputError

# No deal, provider profile or clause file comes near this; a bigger file is a mistake or an
# attack (the whole file is held in memory several times while it is checked).
MAX_INPUT_BYTES = 2 * 1024 * 1024


def read_input(path: Path, *, error: type[DpaError] = InputError, what: str = "file",
               max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of an input file: a regular file (never a device, a pipe or a folder)
    of at most `max_bytes`; every problem is one error naming the file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        kind = "a link to a file that does not exist" if path.is_symlink() else "file not found"
        raise error(kind, path=path, fix="check the path") from None
    except OSError as exc:  # a symlink loop, a path through a file, a name too long
        raise error(f"cannot read file ({exc.strerror})", path=path,
                    fix="check the path") from None
    except ValueError:  # a NUL in the path
        raise error("the path contains a NUL character", path=repr(str(path)),
                    fix="check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise error("this is a folder, not a file", path=path,
                    fix=f"give the path of a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error("this is not a regular file (a device, a pipe or a socket)", path=path,
                    fix=f"give the path of a {what} saved on disk")
    if info.st_size > max_bytes:
        raise error(f"file is larger than the limit of {max_bytes // 1024 // 1024} MB",
                    path=path, fix=f"a {what} is far smaller: check that this is the right file")
    try:
        # O_NONBLOCK: a file swapped for a pipe after the check cannot hang the read.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read file ({exc.strerror})", path=path,
                    fix="check the file's permissions") from None
    if len(raw) > max_bytes:
        raise error(f"file is larger than the limit of {max_bytes // 1024 // 1024} MB",
                    path=path, fix=f"a {what} is far smaller: check that this is the right file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error("file is not UTF-8 text", path=path, line=line,
                    fix="save it as UTF-8 (in your editor: Save with encoding UTF-8)") from None
