"""Writing a folder safely, and our model folder's config.

Every writer of a folder (model folders here; storybook's books through the same `staged_folder`) follows one
rule: the new content is built in a hidden staging folder beside the target and renamed into place at the end,
so a reader never sees half of it and an interrupted run leaves the previous folder as it was. An existing
target is replaced only if it is empty or is recognisably the writer's own kind (for a model folder: it holds
nothing but a model folder's files, `layout.foreign_entries`); anything else, and any plain file, stops the
write with a message naming the folder. A user who points `--out` at the wrong folder loses nothing.

The swap itself can never leave neither version, whatever signal arrives when: on Linux the finished folder
and the previous one trade places in one `renameat2(RENAME_EXCHANGE)` call; elsewhere (or on a filesystem
without it) the two renames run with SIGINT/SIGTERM/SIGHUP/SIGQUIT deferred, so a Ctrl-C arriving between
them takes effect only once the new folder is in place.

Each staging folder holds a marker with the writing process's id and host. A run killed outright (SIGKILL,
power loss) cannot clean up, so the next write beside the same target removes staging folders whose marker
names a process on this host that no longer runs: provably ours, provably abandoned. Nothing else is removed.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..config import MiniGPT5Config
from ..errors import MiniGPT5Error
from ..layout import CONFIG_FILE, MODEL_FOLDER, foreign_entries

FORMAT_VERSION = 1
STAGING_MARKER = ".staging-owner.json"
MODEL_STAGING_MARK = ".minigpt5-tmp-"
_OLD = "old-"  # the staging folder that holds the previous target while the new one is renamed in

Recognise = Callable[[Path], "str | None"]
"""`recognise(folder)`: None if the writer may replace this non-empty folder, else why not (for the message)."""


def replace_problem(target: Path, recognise: Recognise) -> str | None:
    """Why writing `target` would destroy something that is not the writer's (None: it may be written)."""
    if target.is_symlink():
        return f"{target} is a link (replacing it would not write where it points)"
    if target.exists() and not target.is_dir():
        return f"{target} exists and is not a folder"
    if not target.exists():
        return None
    try:
        if not any(target.iterdir()):
            return None
    except OSError as exc:
        return f"{target} cannot be read ({exc.strerror or exc})"
    return recognise(target)


def check_replaceable(target: str | os.PathLike, recognise: Recognise, how_to_proceed: str,
                      error: type[Exception] = MiniGPT5Error) -> None:
    """Raise `error` naming `target` and `how_to_proceed` if writing it would destroy what is not the writer's."""
    problem = replace_problem(Path(target).absolute(), recognise)
    if problem:
        raise error(f"{problem}, so it is not replaced; {how_to_proceed}")


def model_folder_problem(folder: Path) -> str | None:
    """A non-empty folder may be replaced by a model only if it holds nothing but a model folder's files."""
    foreign = foreign_entries(folder)
    if not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
    return f"{folder} holds files that are not part of a model folder ({shown})"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else, or we cannot tell: keep its folder
    return True


def _abandoned(staging: Path) -> bool:
    try:
        owner = json.loads((staging / STAGING_MARKER).read_text())
        pid, host = int(owner["pid"]), owner["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no marker of ours: not provably ours
    return host == socket.gethostname() and pid != os.getpid() and not _process_alive(pid)


def remove_abandoned_staging(target: Path, prefix: str) -> list[Path]:
    """Delete the staging folders `prefix*` beside `target` that a dead process of this host left; returns them.

    A run killed between its two final renames leaves the previous `target` inside its "old" folder and no
    `target`: that folder is put back, not deleted."""
    removed = []
    try:
        candidates = [p for p in target.parent.iterdir()
                      if p.name.startswith(prefix) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for staging in candidates:
        if _abandoned(staging):
            previous = staging / target.name
            if staging.name.startswith(f"{prefix}{_OLD}") and previous.is_dir() and not os.path.lexists(target):
                os.replace(previous, target)
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
    return removed


def _mark_own(staging: Path) -> None:
    (staging / STAGING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def _make_staging(parent: Path, prefix: str) -> Path:
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    _mark_own(staging)
    return staging


@contextmanager
def staged_folder(target: str | os.PathLike, recognise: Recognise, *, mark: str, how_to_proceed: str,
                  error: type[Exception] = MiniGPT5Error) -> Iterator[Path]:
    """Yield an empty staging folder beside `target`; when the block succeeds, it becomes `target`.

    Raises `error` (naming the folder and `how_to_proceed`) before anything is written if `target` may not
    be replaced, and again at the end if it changed meanwhile. On any exception, including
    KeyboardInterrupt, the staging folder is removed and `target` is untouched. Replacing an existing
    target is one exchange (or two renames with signals held); the old one is deleted only after the new one
    is in place.
    """
    target = Path(target).absolute()
    prefix = f".{target.name}{mark}"

    def check() -> None:
        check_replaceable(target, recognise, how_to_proceed, error)

    try:
        if target.parent.is_dir():
            remove_abandoned_staging(target, prefix)  # first: it may put back a previous target
        check()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = _make_staging(target.parent, prefix)
    except OSError as exc:
        raise error(f"cannot write beside {target}: {exc.strerror or exc}") from None
    try:
        yield staging
        (staging / STAGING_MARKER).unlink()
        staging.chmod(0o755)  # mkdtemp makes it private; an output folder is meant to be shared
        check()
        try:
            _publish(staging, target, prefix)
        except OSError as exc:
            raise error(f"cannot move the finished folder into {target}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, target: Path, prefix: str) -> None:
    """Put `staging` in the place of `target`; the previous target, if any, is deleted afterwards."""
    previous = None  # set once the swap is complete: the folder holding the previous target, now garbage
    try:
        with _signals_held():
            if not target.exists():
                os.replace(staging, target)
            elif _exchange(staging, target):
                previous = staging
                with suppress(OSError):  # it holds the previous target now: a killed run's next write removes it
                    _mark_own(staging)
            else:
                previous = _swap_by_renames(staging, target, prefix)
    finally:
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)


def _swap_by_renames(staging: Path, target: Path, prefix: str) -> Path:
    """The fallback swap: `target` into a marked folder aside, `staging` into its place; returns the aside."""
    aside = _make_staging(target.parent, f"{prefix}{_OLD}")
    try:
        os.replace(target, aside / target.name)
        try:
            os.replace(staging, target)
        except OSError:
            os.replace(aside / target.name, target)
            raise
    except OSError:
        if not os.path.lexists(aside / target.name):  # else the previous target is still in there: keep it
            shutil.rmtree(aside, ignore_errors=True)
        raise
    return aside


# Signals that stop a run; held across the renames so none lands between them.
_STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))


@contextmanager
def _signals_held() -> Iterator[None]:
    """Defer the stopping signals for the block: they are raised again, with the usual handlers back, when it
    ends, on every exit path.

    The handlers are swapped rather than the signals masked (`pthread_sigmask`) because a mask is per
    thread: with torch's worker threads running, the kernel hands a process-wide signal to one of them, and
    Python still runs the handler in the main thread at once. Python runs signal handlers only in the main
    thread, so a worker thread (ComfyUI's executor) is never interrupted by one and needs nothing here."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    replaced = {}
    for number in _STOPPING:
        handler = signal.getsignal(number)
        if handler is not None and handler != signal.SIG_IGN:  # None: set outside Python, cannot be restored
            replaced[number] = signal.signal(number, lambda received, frame: arrived.append(received))
    try:
        yield
    finally:
        for number, handler in replaced.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(arrived):
            signal.raise_signal(number)


_RENAME_EXCHANGE = 2  # linux/fs.h; where renameat2 fails for any reason, two renames follow
_AT_FDCWD = -100


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None).renameat2  # glibc >= 2.28, musl >= 1.2.4
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one system call; False where it did not happen (nothing was changed).

    Whatever the reason (an old kernel, a filesystem without the exchange, a permission), the caller then
    swaps by two renames, which report a real obstacle in their own words."""
    renameat2 = _renameat2()
    return renameat2 is not None and \
        renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0


_MODEL_HOW = "choose another output folder, or empty this one yourself if its files may go"


def check_model_target(folder: str | os.PathLike) -> None:
    """Raise MiniGPT5Error if a model may not be written to `folder` (call it before slow work, too)."""
    check_replaceable(folder, model_folder_problem, _MODEL_HOW)


def write_folder(folder: str | Path, fill: Callable[[Path], None]) -> None:
    """Let `fill(staging)` write a model folder's content, then move it into place atomically.

    An existing `folder` is replaced only if it is empty or holds nothing but a model folder's files.
    """
    with staged_folder(folder, model_folder_problem, mark=MODEL_STAGING_MARK, how_to_proceed=_MODEL_HOW) as staging:
        fill(staging)


def write_config(folder: Path, config: MiniGPT5Config, adapter_stage: int | None) -> None:
    meta = {"format_version": FORMAT_VERSION, "adapter_stage": adapter_stage, "config": config.to_dict()}
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))


def read_config(folder: Path) -> tuple[MiniGPT5Config, int | None]:
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise MiniGPT5Error(f"model folder {folder} does not exist; {MODEL_FOLDER}")
    if not path.is_file():
        raise MiniGPT5Error(
            f"{folder} is not a MiniGPT-5 model folder: {CONFIG_FILE} is missing ({MODEL_FOLDER})"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        version = meta["format_version"]
        config = MiniGPT5Config.from_dict(meta["config"])
    except MiniGPT5Error as exc:
        raise MiniGPT5Error(f"{path}: {exc}; fix the value or re-save the model") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise MiniGPT5Error(f"{path} is not a valid MiniGPT-5 config ({type(exc).__name__}: {exc}); "
                            "re-save or re-convert the model") from None
    if version != FORMAT_VERSION:
        raise MiniGPT5Error(f"{path} has format version {version}; this library reads version {FORMAT_VERSION}")
    return config, meta.get("adapter_stage")
