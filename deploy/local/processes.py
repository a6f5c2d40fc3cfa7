"""Child processes for the local stack and the tests: start, wait until ready, stop, find again.

Every server runs in its own session so that its whole process group can be signalled; waits are
bounded and fail with the tail of the process's log. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A server or tool could not be set up; the message says why and shows its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in tail) or "    (log is empty)"


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if `pid` runs and is not a zombie; with `marker`, its command line must contain it.

    The marker guards against a stale pid file whose pid now belongs to another program.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return False
    return marker is None or marker in cmdline


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session (so its group can be signalled), appending to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def terminate(
    pid: int,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    first: signal.Signals = signal.SIGTERM,
) -> bool:
    """Send `first` (SIGTERM) to the process group of `pid`, wait up to `timeout` s, then SIGKILL.

    Returns True if it stopped within the grace period. `proc`, when the caller owns the child,
    is used to reap it so that no zombie is left behind.
    """

    def alive() -> bool:
        if proc is not None:
            return proc.poll() is None
        return pid_alive(pid)

    if not alive():
        return True
    _signal_group(pid, first)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    graceful = not alive()
    if not graceful:
        _signal_group(pid, signal.SIGKILL)
        while alive() and time.monotonic() < deadline + 10:
            time.sleep(0.05)
    # Children of the group (if any) that outlived the leader go too.
    _signal_group(pid, signal.SIGKILL)
    return graceful


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log_path: Path,
    proc: subprocess.Popen[bytes] | None = None,
    interval: float = 0.2,
) -> float:
    """Poll `check` until it is true; return the seconds it took, or raise with the log tail."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if check():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise ServiceError(
                f"{what}: process exited with code {proc.returncode} before it was ready; "
                f"last lines of {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() >= deadline:
            raise ServiceError(
                f"{what}: not ready after {timeout:.0f} s; last lines of {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        time.sleep(interval)
