"""How every command line of the project ends: one line on stderr and a documented exit code.

    0    done
    1    internal error (a bug): one line, plus "rerun with --debug" for the traceback
    2    bad input or an unusable environment (missing file, full disk, bad option): one line naming the fix
    130  interrupted (Ctrl-C); 143 / 129 for SIGTERM / SIGHUP, which are turned into the same clean stop

Why one helper: the library's CLIs (`python -m minigpt5_core`, `.convert`, `.train`, `.evaluate`, `.data`,
`.shapes`) and `python -m storybook` share it, so a user meets the same rules everywhere, and a traceback from
deep inside torch never reaches someone who only typed a wrong path. SIGTERM and SIGHUP raise `Interrupted`
(a KeyboardInterrupt) so that every `finally` runs: output folders are written through staging folders that
are removed on the way out, and the previous output stays as it was. Torch-free.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from .errors import MiniGPT5Error

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DEBUG_FLAG = "--debug"
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class UsageError(MiniGPT5Error):
    """A command line argparse rejected (unknown option, missing value, wrong type)."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that clean-up code runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line (a UsageError, exit 2), not a usage screen,
    and knows `--debug` on every (sub)command."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(DEBUG_FLAG, action="store_true", help="show the full traceback of an internal error")

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise `Interrupted`; the previous handlers come back after.

    Only in the main thread (Python delivers signals there, and only there may handlers be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, raise_interrupted) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _os_error_line(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}; free some space and run again (the previous output is unchanged)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}: {exc.strerror}; choose a folder you may write or read"
    return f"{exc.strerror or exc}{where}"


def run_cli(prog: str, body: Callable[[Sequence[str]], int | None], argv: Sequence[str] | None = None, *,
            user_errors: tuple[type[BaseException], ...] = (MiniGPT5Error,), stop_signals: bool = True) -> int:
    """Run `body(argv)` and turn how it ended into one line on stderr and an exit code (module docstring).

    `stop_signals=False` leaves SIGTERM and SIGHUP at their defaults: for a process that may wait inside a
    C++ collective (a distributed training rank), where a Python handler would only run once the wait ends
    and a launcher's SIGTERM must stop it at once."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv
    # Our commands never download. Libraries imported along the way may still ask the Hugging Face Hub on their
    # own (bitsandbytes looks up a CPU kernel there on AVX512-BF16 machines when diffusers imports it): offline
    # mode makes such a look-up fail at once, on the machine, instead of contacting the network. A user's own
    # setting wins.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        with stop_signals_interrupt() if stop_signals else nullcontext():
            return body(argv) or EXIT_OK
    except user_errors as exc:
        _say(prog, f"error: {exc}")
        return EXIT_BAD_INPUT
    except Interrupted as exc:
        _say(prog, f"stopped by {signal.Signals(exc.signum).name}; the previous output is unchanged")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say(prog, "interrupted; the previous output is unchanged")
        return EXIT_INTERRUPTED
    except OSError as exc:
        if debug:
            raise
        _say(prog, f"error: {_os_error_line(exc)}")
        return EXIT_BAD_INPUT
    except MemoryError:
        _say(prog, "error: out of memory; use smaller inputs (fewer pages, smaller pictures)")
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line instead of a traceback
        if debug:
            raise
        _say(prog, f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (rerun with {DEBUG_FLAG} for "
                   "the traceback, and please report it)")
        return EXIT_INTERNAL


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _say(prog: str, line: str) -> None:
    """Print one line even when the message holds characters stderr cannot encode (lone surrogates)."""
    text = _one_line(f"{prog}: {line}", 2000)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=sys.stderr, flush=True)
