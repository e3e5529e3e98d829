"""Multi-process launches in tests: `accelerate launch` of two CPU processes (gloo) with a hang diagnosis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(*options: str) -> list[str]:
    """`accelerate launch` of two processes on this machine; `options` may pick a mode (DDP: --multi_gpu) and
    end with what to run (`-m module args...`).

    accelerate 1.15: `launch --cpu --num_processes 2` starts one process (it expects MPI); --multi_gpu starts two
    through torchrun, and the trainer tells accelerate to use the CPU (gloo) without a GPU."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), *options]


def launch_env() -> dict[str, str]:
    """One thread per process (2 processes on a 2-core machine); the repository and tests/support importable."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(SUPPORT)])}


def _workers(marker: str) -> list[int]:
    """PIDs of the launched processes (not the launcher) whose command line names `marker`."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "accelerate" not in cmdline:
            pids.append(int(proc.name))
    return pids


def run_or_dump_stacks(cmd: list[str], timeout: float, marker: str) -> subprocess.CompletedProcess:
    """Run a launch; if it hangs, ask each worker for its stacks (SIGUSR1, see train/trainer.py) before killing it,
    so that the failure says where it was stuck."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=launch_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        workers = _workers(marker)
        for pid in workers:
            os.kill(pid, signal.SIGUSR1)
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in workers:  # torchrun starts each worker in its own session: killpg misses them
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the launch did not finish in {timeout:.0f} s; stdout {out!r}; stderr ends with:\n{err[-6000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
