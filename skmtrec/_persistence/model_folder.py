"""A model folder on disk: written all at once, its files read only after they are checked.

``write_folder`` writes a model into a temporary sibling of its folder and then puts it in the
folder's place with one rename (an atomic exchange where the system offers one), so that a
save interrupted at any point leaves the earlier model as it was. ``FolderReader`` reads a file
only if it is a regular file inside the folder, of the size and SHA-256 digest that
``estimator.json`` records for it.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from ..exceptions import ModelFileError

MANIFEST = "estimator.json"
# JSON expands up to some 20 times in memory when parsed: a bound on what a load may cost
MAX_MANIFEST_BYTES = 256 << 20
# the files a save writes; a folder holding only these (and estimator.json) is a model
_MODEL_FILE = re.compile(
    r"estimator\.json|arrays\.npz|weights(-\d+)?\.safetensors|history(-\d+)?\.json"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class FolderWriter:
    """The temporary folder of one save: new side files by unique names."""

    def __init__(self, path: Path):
        self.path = path
        self._names: set[str] = set()

    def new_file(self, name: str) -> Path:
        """A path in the folder for a new side file, ``name`` numbered if already taken."""
        stem, dot, suffix = name.partition(".")
        candidate, n = name, 1
        while candidate in self._names:
            candidate, n = f"{stem}-{n}{dot}{suffix}", n + 1
        self._names.add(candidate)
        return self.path / candidate

    def records(self) -> dict[str, dict]:
        """``{name: {"size", "sha256"}}`` of every file written so far."""
        records = {}
        for path in sorted(self.path.iterdir()):
            digest = hashlib.sha256()
            with path.open("rb") as file:
                while chunk := file.read(1 << 24):
                    digest.update(chunk)
            records[path.name] = {"size": path.stat().st_size, "sha256": digest.hexdigest()}
        return records


class FolderReader:
    """The folder of one load: side files as checked bytes.

    Parameters
    ----------
    path : Path
        The folder.
    records : dict or None
        ``{name: {"size", "sha256"}}`` from ``estimator.json``; None for a folder of format
        version 1, which recorded none (its files are checked for place and kind only).
    """

    def __init__(self, path: Path, records: dict[str, dict] | None):
        self.path = path
        self.manifest = path / MANIFEST
        self.records = records

    def read(self, name, field: str) -> bytes:
        """The bytes of the side file ``name``, which ``field`` of ``estimator.json`` names."""
        if not isinstance(name, str) or not _is_plain_name(name):
            raise ModelFileError(
                f"{self.manifest}: {field} names {name!r}, which is not a file of its folder."
            )
        if self.records is None:
            return read_regular(self.path / name, inside=self.path)
        record = self.records.get(name)
        if record is None:
            raise ModelFileError(
                f"{self.manifest}: `files` records no size and digest for {name!r}, which "
                f"{field} names: the file was altered."
            )
        data = read_regular(self.path / name, inside=self.path, size=record["size"])
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            raise ModelFileError(
                f"{self.path / name} does not match the SHA-256 digest that {MANIFEST} records "
                "for it: it was altered, or belongs to another save."
            )
        return data


def check_records(records, manifest: Path) -> dict[str, dict]:
    """``estimator.json``'s ``files`` entry, checked: plain names, sizes and digests."""
    ok = isinstance(records, dict) and all(
        isinstance(name, str)
        and _is_plain_name(name)
        and isinstance(record, dict)
        and set(record) == {"size", "sha256"}
        and type(record["size"]) is int
        and record["size"] >= 0
        and isinstance(record["sha256"], str)
        and _SHA256.fullmatch(record["sha256"])
        for name, record in (records.items() if isinstance(records, dict) else ())
    )
    if not ok:
        raise ModelFileError(
            f"{manifest}: `files` must map each side file's name to its size and SHA-256 "
            "digest; it was altered."
        )
    return records


def read_regular(path: Path, *, inside: Path, size: int | None = None, limit: int | None = None):
    """The bytes of ``path``, a regular file directly inside the folder ``inside`` (a symlink
    to a file of that folder is followed), of ``size`` bytes when given, at most ``limit``.

    Raises FileNotFoundError when it is missing, ValueError naming it when it is anything else
    (a FIFO, a device, a folder, a link out of the folder, the wrong size).
    """
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: the saved model is incomplete.") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ModelFileError(f"{path} cannot be opened ({exc}).") from None
    if resolved.parent != inside.resolve():
        raise ModelFileError(f"{path} leads out of its folder (to {resolved}): refused.")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(resolved, flags)
    except OSError as exc:
        raise ModelFileError(f"{path} cannot be opened ({exc.strerror}).") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ModelFileError(f"{path} is not a regular file: refused.")
    with os.fdopen(fd, "rb") as file:
        expected = "" if size is None else f" where {MANIFEST} records {size}"
        if (size is not None and info.st_size != size) or (
            limit is not None and info.st_size > limit
        ):
            raise ModelFileError(
                f"{path} has {info.st_size} bytes{expected}"
                f"{'' if limit is None else f' (at most {limit} are read)'}: it was altered, "
                "truncated or belongs to another save."
            )
        data = file.read(info.st_size + 1)
    if len(data) != info.st_size:
        raise ModelFileError(f"{path} changed while it was read.")
    return data


def parse_json(data: bytes, path: Path):
    """The JSON of the file ``path`` (its bytes ``data``), or a ModelFileError naming it."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path} is not valid JSON ({exc}): it is truncated or corrupted."
        ) from None
    except RecursionError:
        raise ModelFileError(f"{path} is nested too deeply to be a model's file.") from None


def check_target(path) -> Path:
    """The folder ``path`` as a place ``save`` may write, or a ValueError saying why not: it
    exists as something other than a folder, or it is a folder that holds files other than a
    skmtrec model's (``save`` replaces a model, never other files).

    Call it before work whose result is saved there (a long fit), so that a bad path is found
    first.
    """
    folder = Path(path)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise ValueError(f"{folder} exists and is not a folder: give a folder for the model.")
    if folder.is_dir():
        if folder.resolve() == Path.cwd().resolve():
            raise ValueError(f"{folder} is the current folder: give the model a folder of its own.")
        entries = list(folder.iterdir())
        if entries and not _is_model(entries):
            names = sorted(p.name for p in entries)
            raise ValueError(
                f"{folder} is not a skmtrec model (it holds {', '.join(names[:5])}"
                f"{', ...' if len(names) > 5 else ''}, and a model holds {MANIFEST} and its "
                "files only): give an empty or new folder, or one that skmtrec.save wrote (it "
                "is then replaced)."
            )
    return folder


def write_folder(path, write: Callable[[FolderWriter], None]) -> Path:
    """Write a model with ``write`` into a temporary sibling of the folder ``path``, then put
    it in the place of ``path`` (an earlier model there is replaced) in one step.

    If ``write`` or the process stops before that step, ``path`` is as it was.
    """
    target = check_target(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _new_sibling(target, "saving")
    try:
        write(FolderWriter(staging))
        for file in staging.iterdir():
            _fsync(file)
        _fsync(staging)
        _put_in_place(staging, target)
        _fsync(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Path(path)


def _put_in_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is exchanged with it, then
    removed (from where ``staging`` was)."""
    try:
        os.rename(staging, target)  # atomic where target is new or an empty folder
        return
    except OSError:
        if not target.exists():
            raise
    if not _exchange(staging, target):
        # no atomic exchange here: two renames, the old model kept aside in between
        aside = _new_sibling(target, "replaced")
        os.rmdir(aside)
        try:
            os.rename(target, aside)
            os.rename(staging, target)
        except BaseException:
            if not target.exists():
                os.rename(aside, target)  # interrupted between the two: the old model back
            else:
                shutil.rmtree(aside, ignore_errors=True)  # after both: the new one is in place
            raise
        staging = aside
    shutil.rmtree(staging, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Exchange the paths ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``);
    False where the system or the file system offers no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _new_sibling(target: Path, purpose: str) -> Path:
    """A new hidden folder beside ``target``, created with the default permissions."""
    while True:
        sibling = target.with_name(f".{target.name}.{purpose}-{secrets.token_hex(4)}")
        try:
            sibling.mkdir()
            return sibling
        except FileExistsError:
            continue


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(fd)


def _is_model(entries: list[Path]) -> bool:
    """Whether the folder entries are those of a skmtrec model."""
    names = {p.name for p in entries}
    return MANIFEST in names and all(
        _MODEL_FILE.fullmatch(p.name) and p.is_file() and not p.is_symlink() for p in entries
    )


def _is_plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and "\x00" not in name and Path(name).name == name
