"""Build-once folders for the offline stand-ins, keyed by a hash of what built them, checked on every use.

A folder is rebuilt only when its recipe changes (the builder's source code, its data, its settings
or the library versions that write the files) or when it is damaged. Each finished folder holds a
completion record with every file's size and sha256; a folder whose files no longer match (a full
disk, a partial copy, a deleted file), or that was marked unusable because it failed to load, is
rebuilt once, with one line saying why, and only then reported with the folder to delete named.

Several processes may share one cache (two notebooks opened together, a class on one machine):
builds of the same entry are serialised by a file lock (`filelock`), a build goes to a scratch
folder that is renamed into place, and a finished, valid folder is never deleted or replaced, so
nobody's reader loses files under it. Folders and files are readable by every account, so an
instructor can share a pre-built cache read-only: a valid entry loads without any write.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from ..errors import TutorialError

CACHE_VARIABLE = "BLLOSSOM_CACHE"
RECORD_FILE = ".complete.json"  # written last: a folder without it was never finished
LEGACY_MARKER = ".complete"  # what earlier versions wrote instead (no sizes, no hashes)
LOAD_FAILURE = "it failed to load"  # the start of the reason `mark_unusable` records
WAIT_NOTICE_S = 2.0  # after this long waiting for another builder, say so

# (path, size, mtime_ns, inode) -> sha256 for files already hashed by this process, so checking
# the same unchanged folder again (every `source_of` call) costs a stat per file, not a re-read.
_verified: dict[tuple, str] = {}


def cache_root() -> Path:
    """Where built models live: $BLLOSSOM_CACHE, else ~/.cache/bllossom-tutorial."""
    root = (os.environ.get(CACHE_VARIABLE) or "").strip() or Path.home() / ".cache" / "bllossom-tutorial"
    return Path(root).expanduser()


def recipe_hash(*parts) -> str:
    """A short, stable hash of strings, bytes and files (files by their content)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = part.read_bytes()
        if isinstance(part, str):
            part = part.encode()
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# The completion record and the check


def _sha256(path: Path) -> str:
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns, info.st_ino)
    if key not in _verified:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _verified[key] = digest.hexdigest()
    return _verified[key]


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORD_FILE)


def read_record(folder: Path) -> dict | None:
    """The folder's completion record, or None when it has none (or an unreadable one)."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot be used as it is (one short reason), or None when every recorded file
    is there with its recorded size and sha256 and nobody marked it unusable."""
    if not folder.is_dir():
        return "it does not exist"
    record = read_record(folder)
    if record is None:
        return "it has no completion record (an interrupted build, or made by an older version)"
    if record.get("unusable"):
        return record["unusable"]
    for name, expected in record["files"].items():
        path = folder / name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return f"{name} is missing"
        except OSError as error:
            return f"{name} cannot be read ({error.strerror})"
        if size != expected["size"]:
            return f"{name} has {size:,} bytes instead of {expected['size']:,} (cut short or changed)"
        try:
            if _sha256(path) != expected["sha256"]:
                return f"{name} does not match its recorded sha256 (damaged or changed)"
        except OSError as error:
            return f"{name} cannot be read ({error.strerror})"
    return None


def _write_record(folder: Path, recipe: str, rebuilt_because: str | None) -> None:
    files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in _files_of(folder)}
    record = dict(recipe=recipe, built=time.strftime("%Y-%m-%dT%H:%M:%S%z"), build_id=os.urandom(8).hex(),
                  files=files)
    if rebuilt_because:
        record["rebuilt_because"] = rebuilt_because
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")


def _readable_by_all(folder: Path) -> None:
    """mkdtemp makes folders private (0700) and safetensors writes 0600: open them to readers."""
    for path in [folder, *folder.rglob("*")]:
        extra = 0o555 if path.is_dir() else 0o444
        os.chmod(path, stat.S_IMODE(path.stat().st_mode) | extra)


# ----------------------------------------------------------------------------------------------
# Where the cache is, and whether it can be written


def _root_hint() -> str:
    if (os.environ.get(CACHE_VARIABLE) or "").strip():
        return f"{CACHE_VARIABLE}={os.environ[CACHE_VARIABLE]}"
    return f"the default cache (set {CACHE_VARIABLE} to change it)"


def unusable_cache_message(root: Path, what: str) -> str:
    return (f"The model cache {root} ({_root_hint()}) {what}. Set {CACHE_VARIABLE} to a folder you "
            f"can write to, e.g.  export {CACHE_VARIABLE}=~/.cache/bllossom-tutorial  (in a notebook: "
            f"os.environ['{CACHE_VARIABLE}'] = ... before the setup cell), or unset it.")


def _writable_root() -> Path:
    """The cache root, created if needed, or a TutorialError that names BLLOSSOM_CACHE and the fix."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise TutorialError(unusable_cache_message(root, "is a file or lies under a file, not a folder")) from None
    except OSError as error:
        raise TutorialError(unusable_cache_message(root, f"cannot be created ({error.strerror})")) from None
    if not root.is_dir():
        raise TutorialError(unusable_cache_message(root, "is not a folder"))
    return root


def _explain_write_error(root: Path, name: str, error: OSError) -> TutorialError:
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return TutorialError(unusable_cache_message(
            root, f"is read-only for you and does not hold a usable {name} yet (whoever shares it can "
                  f"build it there by running any notebook once)"))
    if error.errno == errno.ENOSPC:
        return TutorialError(unusable_cache_message(root, f"ran out of disk space while building {name} "
                                                          "(free some space and run again)"))
    return TutorialError(unusable_cache_message(root, f"could not be written ({error.strerror}) while "
                                                      f"building {name}"))


# ----------------------------------------------------------------------------------------------
# Building, healing, and marking a folder unusable


def _lock(root: Path, entry: str):
    from filelock import FileLock

    return FileLock(root / f".{entry}.lock", mode=0o666)


@contextlib.contextmanager
def _holding(lock, entry: str):
    """Hold `lock`, saying once that we wait when another process is building the same entry."""
    from filelock import Timeout

    try:
        lock.acquire(timeout=WAIT_NOTICE_S)
    except Timeout:
        print(f"\N{CHERRY BLOSSOM} Waiting for another process that is building {entry} ...")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def cached_folder(name: str, recipe: str, build) -> Path:
    """Return `<cache>/<name>-<recipe>`, calling `build(folder)` to create it when it is missing or
    fails its check (then once, with one line saying why)."""
    root = cache_root()
    entry = f"{name}-{recipe}"
    target = root / entry
    problem = folder_problem(target)
    if problem is None:
        return target  # valid: no lock, no write, so a read-only shared cache works
    root = _writable_root()
    try:
        with _holding(_lock(root, entry), entry):
            problem = folder_problem(target)  # someone may have built it while we waited
            if problem is None:
                return target
            if target.exists():
                print(f"\N{CHERRY BLOSSOM} The cached {entry} cannot be used: {problem}. Rebuilding it once.")
            _build_into_place(root, target, recipe, build, problem if target.exists() else None)
    except OSError as error:
        raise _explain_write_error(root, entry, error) from error
    problem = folder_problem(target)
    if problem is not None:  # checked right after a build: the disk or the builder is at fault
        raise TutorialError(f"The cached {entry} was just rebuilt and still fails its check ({problem}). "
                            f"Delete the folder {target} and run again; if it fails again, check free "
                            "disk space.")
    return target


def _build_into_place(root: Path, target: Path, recipe: str, build, rebuilt_because: str | None) -> None:
    """Build into scratch, record it, and rename it into place (under the entry's lock)."""
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=root))
    try:
        try:
            build(scratch)
        except (TutorialError, OSError):
            raise
        except Exception as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise TutorialError(f"Building {target.name} failed ({type(error).__name__}: {first}). Nothing "
                                "was kept; run again, and report it if it fails the same way.") from error
        # Earlier versions of these helpers took a folder with this marker as finished; writing it
        # keeps a clone of an older version that shares the cache from rebuilding over this folder.
        (scratch / LEGACY_MARKER).write_text(recipe)
        _write_record(scratch, recipe, rebuilt_because)
        _readable_by_all(scratch)
        if target.exists():  # invalid (checked under the lock): move it aside, never delete in place
            discarded = Path(tempfile.mkdtemp(prefix=f".{target.name}.discarded-", dir=root))
            os.replace(target, discarded / "old")
            os.replace(scratch, target)
            shutil.rmtree(discarded, ignore_errors=True)
        else:
            os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def mark_unusable(folder: Path, reason: str) -> None:
    """Record that a checked folder failed to load, so the next `cached_folder` call rebuilds it.

    A folder that was already rebuilt because it failed to load is not rebuilt again: the error
    then names the folder to delete. `reason` is one line (the load error)."""
    folder = Path(folder)
    record = read_record(folder)
    if record is None:
        return  # nothing recorded (or already replaced): the next cached_folder call rebuilds it
    if str(record.get("rebuilt_because", "")).startswith(LOAD_FAILURE):
        raise TutorialError(f"{folder} was rebuilt once already because it failed to load, and it fails "
                            f"again ({reason}). Delete the folder (rm -rf '{folder}') and run again; if "
                            "that fails too, the installed transformers cannot load what it built: "
                            "report it with the output of helpers.environment_report().")
    record["unusable"] = f"{LOAD_FAILURE} ({reason})"
    try:
        with _holding(_lock(folder.parent, folder.name), folder.name):
            current = read_record(folder)  # unless another process rebuilt it meanwhile
            if current is not None and current.get("build_id") == record.get("build_id"):
                (folder / RECORD_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    except OSError as error:
        raise TutorialError(f"{folder} failed to load ({reason}) and cannot be marked for a rebuild "
                            f"because the cache is read-only for you. Ask whoever shares it to delete "
                            f"that folder and run a notebook once, or set {CACHE_VARIABLE} to a folder "
                            "you can write to.") from error
    print(f"\N{CHERRY BLOSSOM} {folder.name} failed to load ({reason}); it will be rebuilt once.")
