"""Write files so that a crash never leaves a half-written output that looks complete.

Atomic (a temporary file renamed into place) and durable: the file is fsynced before the
rename and its folder after it. Without both, a power loss right after the rename can leave an
empty or partial file under the final name on common file systems; for a privacy ledger that
would be read as "nothing spent", so every write here pays the two fsyncs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from genofed.common.errors import GenofedError


class NotAFileTargetError(GenofedError, IsADirectoryError):
    """A file was to be written where a folder is (or under a path that is a file). A GenofedError,
    so the CLI prints one line instead of a traceback; an IsADirectoryError, so callers that catch
    the OSError `os.replace` used to raise keep working."""


#: The errors of a write the storage refused (disk full, quota, file size limit, I/O error): the
#: user's to fix, so said in one line (`OutputWriteError`), not as a traceback.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


class OutputWriteError(GenofedError, OSError):
    """The storage refused an output while it was written (`atomic_path`): nothing was written
    under its name. A GenofedError, so the CLI prints one line; an OSError, so callers that catch
    the write's OSError keep working."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(
            f"could not write {path}: {cause.strerror or cause}; nothing was written (check the free space "
            "and the file size limit, e.g. `ulimit -f`, then run again)"
        )
        self.errno = cause.errno


def require_file_target(path: str | Path) -> Path:
    """Refuse (`NotAFileTargetError`) a path a file cannot be written to: an existing folder, or a
    path below an existing file. Commands call it before their work, with their own option's
    wording, so that a typo costs nothing; `atomic_path` calls it too, so that no caller ends in
    `os.replace`'s IsADirectoryError after the work is done."""
    final = Path(path)
    if final.is_dir():
        raise NotAFileTargetError(
            f"{final} is a folder: give the path of a file to write (e.g. {final}/NAME)"
        )
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotAFileTargetError(f"{final}: {parent} is a file, not a folder: give another path")
            break
    return final


def require_writable_target(path: str | Path, option: str = "--out") -> Path:
    """Refuse (`GenofedError`) an output path whose nearest existing folder takes no new file (a
    read-only file system, no permission, an immutable folder): found by creating and removing a
    probe file there, as permission bits do not tell root or a read-only mount. Commands call it
    before their work, and before any privacy is spent: a release charged to the ledger and then
    not written is budget lost for nothing."""
    final = Path(path)
    folder = next((p for p in (final.parent, *final.parent.parents) if p.exists()), Path("."))
    try:
        fd, probe = tempfile.mkstemp(prefix=".genofed-probe.", dir=folder)
    except OSError as exc:
        raise GenofedError(
            f"{option} {final}: cannot write in {folder} ({exc.strerror}); choose a folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return final


def require_replaceable_dir(path: str | Path, option: str = "--out") -> Path:
    """Refuse (`GenofedError`) an existing folder that `atomic_dir` could not replace once the work
    is done: a mount point (EBUSY), an immutable or append-only folder (EPERM), a folder in a
    sticky folder owned by another user, or a symbolic link (which `atomic_dir` would not remove).
    Commands call it before their work, and before any privacy is spent: `require_writable_target`
    probes only the folder around it, and an audit saw a generator charged, then refused at the
    final rename onto an immutable empty `--out`.

    Proven, not guessed, the way `atomic_dir` will do it: the folder is renamed onto a fresh empty
    folder beside it (what removing it from its parent takes) and straight back, so it keeps its
    identity (owner, mode, ACLs). A path that does not exist yet passes (`require_writable_target`
    covers the folder that will hold it)."""
    final = Path(path)
    if final.is_symlink():
        raise GenofedError(
            f"{option} {final} is a symbolic link: give the path of a new folder (or of an empty folder "
            "that is not a link)"
        )
    if not final.is_dir():
        return final
    try:
        probe = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".probe", dir=final.parent))
    except OSError as exc:
        raise GenofedError(
            f"{option} {final}: cannot write in {final.parent} ({exc.strerror}); choose a folder you can "
            "write to"
        ) from None
    try:
        try:
            os.rename(final, probe)  # onto the empty probe folder, which it replaces
        except OSError as exc:
            raise GenofedError(
                f"{option} {final}: this existing folder cannot be replaced by the output ({exc.strerror}: "
                "a mount point, or a folder that may be written into but not removed or renamed); give a "
                f"new folder's path instead, e.g. {option} {final / 'batch'}"
            ) from None
    finally:  # whatever happened, Ctrl-C included: the folder goes back, the probe goes away
        _put_back(final, probe, option)
    return final


def _put_back(final: Path, probe: Path, option: str) -> None:
    """After `require_replaceable_dir`'s trial: the folder renamed back from `probe` to `final`, or,
    when it never moved, the empty probe folder removed."""
    if final.exists() or final.is_symlink():
        with contextlib.suppress(OSError):
            os.rmdir(probe)
        return
    try:
        os.rename(probe, final)
    except OSError as exc:  # the same parent a moment later: not expected, but never lose the folder
        raise GenofedError(
            f"{option} {final}: while checking that it can be replaced, it was moved to {probe} and "
            f"cannot be moved back ({exc.strerror}); move it back by hand (mv {probe} {final})"
        ) from None


def require_not_an_input(
    out: str | Path, inputs: dict[str, str | Path | None], option: str = "--out"
) -> None:
    """Refuse an output that is one of the command's own input files (`inputs`: option -> path):
    with --force it would replace the input, which --force never means (it replaces an old output)."""
    out = Path(out)
    if not out.exists():
        return
    for name, given in inputs.items():
        if given and Path(given).exists() and os.path.samefile(out, given):
            raise GenofedError(
                f"{option} {out} is the file given as {name}: writing there would destroy that input; "
                f"choose another {option} (--force replaces an earlier output, never an input)"
            )


def require_replaceable_output(
    out: str | Path,
    *,
    force: bool,
    output: str,
    is_earlier_output: Callable[[Path], bool],
    option: str = "--out",
) -> None:
    """Refuse (`GenofedError`) an existing `out` unless it is an earlier output of the same command
    (`is_earlier_output`; `output` names such a file in words, e.g. "an adapted model file of
    `genofed adapt`") and `force` was given. --force means "replace my last result", never "replace
    whatever is there": an audit saw it replace a genotype file and a model file. So a file that is
    not such an output is refused with or without --force, and only an earlier output is answered
    with the invitation to pass it."""
    out = Path(out)
    if not out.exists():
        return
    if not is_earlier_output(out):
        raise GenofedError(
            f"{option} {out} exists and is not {output}: --force replaces only an earlier output of this "
            f"command, never another file; choose another {option}"
        )
    if not force:
        raise GenofedError(f"{out} exists ({output}); choose a new file or pass --force to replace it")


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds.

    `mode`: the final file's permission bits (e.g. 0o600 for a file no other user may read; it is
    0600 from its creation on); None gives the usual 0666 less the umask.

    The temporary name keeps the final suffix (e.g. `.vcf.gz`) so that writers which choose a
    format by suffix still work. A `path` that is a folder is refused before the block runs
    (`require_file_target`): the rename would fail only after the work. A write the storage
    refuses (`STORAGE_ERRNOS`: disk full, file size limit) raises `OutputWriteError`.
    """
    final = require_file_target(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes 0600; the final file gets `mode` or the usual one
    tmp.chmod(0o666 & ~current_umask() if mode is None else mode)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _storage_refused(exc, tmp):
            raise OutputWriteError(final, exc) from exc
        raise


def _storage_refused(exc: BaseException, tmp: Path) -> bool:
    """Whether `exc` is the storage refusing the write of `tmp` (no other file's error, no bug)."""
    return (
        isinstance(exc, OSError)
        and exc.errno in STORAGE_ERRNOS
        and exc.filename in (None, str(tmp), tmp)  # os.open(tmp) names the Path
        and not isinstance(exc, GenofedError)
    )


@contextlib.contextmanager
def atomic_dir(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a hidden staging folder next to `path`; on success it replaces `path` whole (an
    existing `path` is removed first: callers decide beforehand whether that is allowed).
    `mode`: the folder's permission bits (0o700: only its owner may read it; None: the usual mode).

    A crash or an error leaves no folder at `path` that looks complete, and no staging debris.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    except OSError as exc:  # named by the folder the user asked for, not by the hidden staging one
        raise OSError(exc.errno, exc.strerror, str(final)) from None
    # mkdtemp makes 0700; the result gets `mode`, or the usual mode
    staging.chmod(0o777 & ~current_umask() if mode is None else mode)
    try:
        yield staging
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it)."""
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str | Path, text: str, mode: int | None = None) -> None:
    with atomic_path(path, mode) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_torch_atomic(path: str | Path, payload: object) -> None:
    """`torch.save(payload)` to `path` atomically, serialised first and then written: torch.save
    reports a storage that refuses the write (disk full, a file size limit) as a RuntimeError ("
    unexpected pos ... vs ..."), which reached a user as a traceback; a plain write is the OSError
    `atomic_path` turns into one line (`OutputWriteError`)."""
    import io

    import torch  # only where a torch file is written: this module is imported by light commands

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def fsync_file(path: str | Path) -> None:
    """Flush a file's data to the disk (a rename alone may reach the disk before the data)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries, so a rename or a new file in it survives a power loss."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a platform without directory handles: nothing more can be done
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders; the data fsync still happened
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def hold_or_refuse(path: str | Path, refuse: Callable[[bytes], Exception]) -> Iterator[int]:
    """Hold an exclusive `flock` on `path` (created if needed) for the block, or raise
    `refuse(what the holder wrote)` at once: one long-running process per folder (a coordinator, a
    hospital agent). Yields the descriptor, for the holder to record who it is (`record_holder`)
    and, if it wants, to pass to a child process (`pass_fds`), which then holds it too.

    Why a flock and not only a pid in a file: the kernel drops the lock when its last holder
    exits, so a crashed process leaves no stale lock and a reused pid cannot hold it. The file is
    emptied when the block ends, so nobody reads a stale holder either."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0)
        os.close(fd)
        raise refuse(holder) from None
    try:
        yield fd
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)


def record_holder(fd: int, text: str) -> None:
    """Replace what the lock file `hold_or_refuse` yielded says about its holder."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)


@contextlib.contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` + ".lock" (created if needed) for the block: one process
    at a time reads, decides and rewrites `path` (a ledger, an index), so none overwrites another's
    change. The lock file is separate because `path` itself is replaced by every atomic write."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
