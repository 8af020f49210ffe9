"""Writing output files: never a partial file, never a half-replaced set, never over an input.

Every output of a command goes through an `OutputSet`: each file is first written in full to
a temporary file beside its target, and only when all of them are written are they moved into
place together. A failure before that leaves every earlier file as it was; a failure while
moving puts back the files already moved.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from .errors import RenderError

# The process umask, read once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


def _cannot_write(path: Path, exc: OSError) -> RenderError:
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, IsADirectoryError):
        return RenderError("cannot write the file: a folder has this name", path=path,
                           fix="give a file name, not a folder")
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return RenderError(f"cannot write the file: part of its folder path is a file ({reason})",
                           path=path, fix="give a path inside an existing folder")
    if isinstance(exc, PermissionError):
        return RenderError("cannot write the file: permission denied", path=path,
                           fix="write to a folder you may write to")
    return RenderError(f"cannot write the file ({reason})", path=path,
                       fix="write to a folder on a normal disk with free space")


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve() or (
            one.exists() and other.exists() and os.path.samefile(one, other))
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return False


class OutputSet:
    """The files one command writes: all of them in place, or none (see the module text)."""

    def __init__(self, *, inputs: Iterable[tuple[str, Path]] = ()) -> None:
        # (what it is, path) of every file the command reads, so no output can replace one.
        self._inputs = [(what, Path(path)) for what, path in inputs]
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, target)

    def add(self, path: Path, data: bytes) -> Path:
        """Write `data` to a temporary file beside `path` (moved into place by commit)."""
        for what, source in self._inputs:
            if _same_file(path, source):
                raise RenderError(f"the output would overwrite the {what} this command reads",
                                  path=path, fix="give the output another file name")
        if any(_same_file(path, target) for _, target in self._staged):
            raise RenderError("two outputs of this command have the same name", path=path,
                              fix="give each output its own file name")
        if path.is_dir():
            raise _cannot_write(path, IsADirectoryError())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        try:
            # mkstemp creates the file 0600; give it the permissions a normal write would get.
            os.fchmod(fd, 0o666 & ~_UMASK)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise _cannot_write(path, exc) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._staged.append((Path(tmp), path))
        return path

    def commit(self) -> list[Path]:
        """Move every staged file into place; on a failure put back what was already moved."""
        moved: list[tuple[Path, Path | None, bool]] = []  # (target, backup of the old, existed)
        try:
            for tmp, target in self._staged:
                existed, backup = target.exists(), self._backup(target)
                os.replace(tmp, target)
                moved.append((target, backup, existed))
        except OSError as exc:
            for target, backup, existed in reversed(moved):
                if backup is not None:
                    os.replace(backup, target)
                elif not existed:
                    target.unlink(missing_ok=True)
            failed = self._staged[len(moved)][1]
            self.discard()
            raise _cannot_write(failed, exc) from None
        for _, backup, _ in moved:
            if backup is not None:
                backup.unlink(missing_ok=True)
        targets = [target for _, target in self._staged]
        self._staged.clear()
        return targets

    @staticmethod
    def _backup(target: Path) -> Path | None:
        """A second name (hard link) for the file `target` replaces, to put it back."""
        if not target.exists():
            return None
        backup = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
        try:
            os.link(target, backup)  # refuses an existing name: never replaces another file
        except OSError:
            return None  # a file system without hard links: the move itself is still atomic
        return backup

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


# OWASP's rule for CSV injection: a cell a spreadsheet would read as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading
    single quote (=HYPERLINK(...) becomes '=HYPERLINK(...)). Every CSV the product writes
    passes its cells through here."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def write_atomically(path: Path, data: bytes, *, inputs: Iterable[tuple[str, Path]] = ()) -> None:
    """Write via a temporary file in the same folder and rename: never a partial file."""
    with OutputSet(inputs=inputs) as outputs:
        outputs.add(path, data)
