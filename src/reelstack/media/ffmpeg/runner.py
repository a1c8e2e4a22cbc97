"""Running FFmpeg and ffprobe: argv lists, stdin closed, bounded in time, optionally watched while
they write, their failures turned into named errors (reelstack.media.ffmpeg.reasons)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstack.errors import OutOfTime, ToolchainFailed
from reelstack.media.ffmpeg.hardened import probe_command
from reelstack.media.ffmpeg.reasons import explain

log = logging.getLogger("reelstack.media.ffmpeg")


@dataclass(frozen=True)
class Completed:
    stdout: str
    stderr: str


WATCH_SECONDS = 0.25  # how often ``watch`` is called while a tool runs


def run(
    command: list[str],
    timeout_seconds: float,
    workdir: Path,
    doing: str = "process the file",
    watch: Callable[[], None] | None = None,
    niceness: int = 0,
    yield_when: Callable[[], bool] | None = None,
    hold_while: Callable[[], bool] | None = None,
) -> Completed:
    """Run a tool; its output, or a named error. The end of its stderr goes to the log (with the
    function's keys, the asset id among them) for operators; clients get one sentence. ``watch`` is
    called every WATCH_SECONDS while the tool runs (to publish what it wrote so far); if it raises,
    the tool is stopped and the error goes on. ``niceness`` lowers the tool's CPU priority
    (:func:`lower_priority`): from the start, or with ``yield_when`` (and ``watch``) only once that
    says so after a ``watch``, so that a tool whose first output a player waits for runs ahead until
    it has published it. From then on, while ``hold_while`` says so, the tool is stopped altogether
    (SIGSTOP, then SIGCONT): even niced it took the idle moments of what it yields to."""
    tool = Path(command[0]).name
    if timeout_seconds <= 1:
        raise OutOfTime(f"there was no time left to {doing}")
    deferred = yield_when if watch is not None else None
    with lower_priority(0 if deferred else niceness):
        result = _run(command, timeout_seconds, workdir, doing, watch, niceness, deferred, hold_while)
    if result.returncode != 0:
        detail = (result.stderr or "").replace(str(workdir), "")[-2000:]
        log.warning("%s failed to %s (exit %s): %s", tool, doing, result.returncode, detail)
        if result.returncode < 0:
            raise ToolchainFailed(f"FFmpeg was stopped (signal {-result.returncode}) while trying to {doing}")
        raise explain(result.stderr or "", doing)
    return Completed(result.stdout, result.stderr or "")


def _run(
    command: list[str],
    timeout_seconds: float,
    workdir: Path,
    doing: str,
    watch: Callable[[], None] | None,
    niceness: int,
    yield_when: Callable[[], bool] | None = None,
    hold_while: Callable[[], bool] | None = None,
) -> subprocess.CompletedProcess[str]:
    if watch is None:
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_seconds, cwd=workdir,
                stdin=subprocess.DEVNULL, check=False, errors="replace",
                preexec_fn=_lower_priority(niceness),
            )  # fmt: skip
        except subprocess.TimeoutExpired as error:
            raise OutOfTime(f"processing ran out of time ({timeout_seconds:.0f} s) to {doing}") from error
        return result
    return _run_watched(command, timeout_seconds, workdir, doing, watch, niceness, yield_when, hold_while)


def _lower_priority(niceness: int) -> Callable[[], None] | None:
    """What the child runs before the tool: a lower CPU priority (no threads are started in between)."""
    return (lambda: os.nice(niceness)) if niceness else None


AUTOGROUP = Path("/proc/self/autogroup")
_AUTOGROUP_NICE = re.compile(r"nice (-?\d+)")


@contextlib.contextmanager
def lower_priority(niceness: int) -> Iterator[None]:
    """A nice value counts only against processes of the same session where Linux groups sessions for
    the scheduler (``sched_autogroup``, on by default): the local cloud runs each function in a session
    of its own. So a process that leads its session lowers the whole session's priority while its tool
    runs, and puts it back after; anywhere else (Lambda, tests) only the tool's own nice value changes."""
    before = _session_nice() if niceness and os.getsid(0) == os.getpid() else None
    lowered = before is not None and _set_session_nice(max(before, niceness))
    try:
        yield
    finally:
        if lowered and before is not None:
            _set_session_nice(before)


def _session_nice() -> int | None:
    try:
        found = _AUTOGROUP_NICE.search(AUTOGROUP.read_text())
    except OSError:  # no autogroups here
        return None
    return int(found.group(1)) if found else None


def _set_session_nice(value: int) -> bool:
    try:
        AUTOGROUP.write_text(str(value))
    except OSError:  # not allowed here: the tool's own nice value is all there is
        return False
    return True


def _lower_running(pid: int, niceness: int) -> None:
    """A running tool's every thread (Linux keeps a nice value per thread) down to ``niceness``."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            tid = int(task.name)
            os.setpriority(os.PRIO_PROCESS, tid, max(niceness, os.getpriority(os.PRIO_PROCESS, tid)))


def _run_watched(
    command: list[str],
    timeout_seconds: float,
    workdir: Path,
    doing: str,
    watch: Callable[[], None],
    niceness: int,
    yield_when: Callable[[], bool] | None = None,
    hold_while: Callable[[], bool] | None = None,
) -> subprocess.CompletedProcess[str]:
    """:func:`run`'s tool with ``watch`` called while it runs; its output goes through files (a pipe
    that nobody reads while the tool writes would block it)."""
    yielded, held = yield_when is None, False
    deadline = time.monotonic() + timeout_seconds
    with (
        tempfile.TemporaryFile("w+") as stdout,
        tempfile.TemporaryFile("w+", errors="replace") as stderr,
        contextlib.ExitStack() as lowered,
    ):
        process = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, text=True, cwd=workdir,
            preexec_fn=None if yield_when else _lower_priority(niceness),
        )  # fmt: skip
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise OutOfTime(f"processing ran out of time ({timeout_seconds:.0f} s) to {doing}")
                watch()
                if not yielded and yield_when and yield_when():
                    yielded = True
                    if niceness:
                        lowered.enter_context(lower_priority(niceness))
                        _lower_running(process.pid, niceness)
                if yielded and hold_while:
                    hold = hold_while()
                    if hold != held:
                        held = hold
                        process.send_signal(signal.SIGSTOP if held else signal.SIGCONT)
                    if not hold:
                        hold_while = None  # once it lets go, it is not asked again
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=WATCH_SECONDS)
        finally:
            if held:  # send_signal skips a tool already reaped: it may have ended as it was held
                process.send_signal(signal.SIGCONT)
            if process.poll() is None:
                process.kill()
                process.wait()
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())


def read_header(source: Path, timeout_seconds: float, workdir: Path) -> dict[str, Any]:
    """ffprobe's description of the container and its streams (nothing decoded)."""
    return json.loads(run(probe_command(source), timeout_seconds, workdir, "read the file's header").stdout or "{}")
