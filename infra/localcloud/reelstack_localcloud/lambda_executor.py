"""A LocalStack Lambda runtime executor that runs execution environments as local processes.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=local-process``. Each execution environment is one process of
the runtime interpreter (``REELSTACK_LAMBDA_PYTHON``: Python 3.13 with boto3 and nothing else)
running ``runtime/bootstrap.py`` on a free loopback port. What a container gave the Docker executor
is recreated per environment:

- ``/var/task``: the unzipped code LocalStack prepares, used as task root and working directory;
- ``/opt``: the function's layers merged in order into one folder per layer set (hard links, so a
  large FFmpeg layer costs no copy), with ``bin/`` on PATH, ``lib/`` on LD_LIBRARY_PATH and
  ``python/`` on PYTHONPATH;
- ``/tmp``: a private temporary folder per environment (TMPDIR), removed when it stops;
- limits: the function timeout and memory size are enforced from here. A timed-out, out-of-memory
  or crashed environment is killed with its children, the invocation fails the way Lambda reports
  it (``Sandbox.Timedout``, ``Runtime.OutOfMemory``, ``Runtime.ExitError``) and the next invocation
  gets a fresh process.

Logs of every environment are kept in ``$REELSTACK_LOCALCLOUD_DIR/lambda/logs``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, InvalidStateError
from datetime import UTC, datetime
from pathlib import Path

import psutil
from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor
from localstack.utils.net import get_free_tcp_port

LOG = logging.getLogger(__name__)

SUPPORTED_RUNTIMES = {"python3.13"}
BOOTSTRAP = Path(__file__).parent / "runtime" / "bootstrap.py"
MONITOR_INTERVAL_SECONDS = 0.1  # while an invocation runs: its memory, its process's death
IDLE_MONITOR_SECONDS = 1.0  # between invocations: only a death to notice (an invocation wakes it at once)
# Finding an environment's processes reads every process's /proc entry (a few ms each time): one look
# serves every environment's watch for this long; their memory is read at every look.
DESCENDANTS_REFRESH_SECONDS = 1.0
_MIB = 1024 * 1024


class _Sessions:
    """Which processes are in which session, from one look at /proc shared by every environment (each
    runs in a session of its own, so its session is the function and every child it started)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = float("-inf")
        self._members: dict[int, list[int]] = {}

    def members(self, session_id: int) -> list[int]:
        with self._lock:
            if time.monotonic() - self._taken > DESCENDANTS_REFRESH_SECONDS:
                self._members, self._taken = _sessions_now(), time.monotonic()
            return self._members.get(session_id, [])


def _sessions_now() -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()  # state, ppid, pgrp, session, ...
        except OSError:
            continue  # it ended meanwhile
        members.setdefault(int(fields[3]), []).append(int(entry))
    return members


SESSIONS = _Sessions()


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    """The processes an environment started (those of its session but itself)."""
    found = []
    for pid in SESSIONS.members(root.pid):
        if pid != root.pid:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(psutil.Process(pid))
    return found


def _state_dir() -> Path:
    return Path(os.environ.get("REELSTACK_LOCALCLOUD_DIR") or config.dirs.tmp) / "lambda"


def _runtime_python() -> str:
    return os.environ.get("REELSTACK_LAMBDA_PYTHON") or sys.executable


_opt_lock = threading.Lock()


def _merged_layers_dir(function_version: FunctionVersion) -> Path | None:
    """Merge the function's layers, in order, into one folder standing in for /opt."""
    layers = function_version.config.layers
    if not layers:
        return None
    key = hashlib.sha256("\n".join(layer.layer_version_arn for layer in layers).encode()).hexdigest()[:16]
    target = _state_dir() / "opt" / key
    with _opt_lock:
        if target.exists():
            return target
        staging = target.with_name(key + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for layer in layers:
            layer.code.prepare_for_execution()
            source = Path(layer.code.get_unzipped_code_location())
            shutil.copytree(source, staging, copy_function=_link_or_copy, symlinks=True, dirs_exist_ok=True)
        staging.rename(target)
    return target


def _link_or_copy(source: str, destination: str) -> None:
    # A later layer overrides an earlier one's file, as Lambda's extraction into /opt does.
    if os.path.lexists(destination):
        os.unlink(destination)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


class LocalProcessExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002 - LocalStack's signature
        super().__init__(id=id, function_version=function_version)
        self.endpoint = ExecutorEndpoint(id, container_address="127.0.0.1", container_port=None)
        self.process: subprocess.Popen | None = None
        self.env_vars: dict[str, str] = {}
        self.tmp_dir = _state_dir() / "tmp" / id
        self.log_file = _state_dir() / "logs" / f"{function_version.id.function_name}-{id}.log"
        self._lock = threading.RLock()
        self._pending_request: str | None = None
        self._log_offset = 0
        self._stopping = False
        self._expected_exit = False  # set when we kill the process on purpose (timeout, memory)
        self._invoked = threading.Event()  # wakes the idle watch when an invocation starts

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self.env_vars = {key: str(value) for key, value in env_vars.items()}
        self.endpoint.start()
        self._spawn()
        self.endpoint.wait_for_startup()

    def stop(self) -> None:
        self._stopping = True
        self._kill()
        try:
            self.endpoint.shutdown()
        except Exception as error:  # noqa: BLE001 - stopping must not fail on a half-started environment
            LOG.debug("Error while shutting down endpoint of %s: %s", self.id, error)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _environment(self, port: int) -> dict[str, str]:
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        opt_dir = _merged_layers_dir(self.function_version)
        runtime_bin = str(Path(_runtime_python()).parent)
        path = [runtime_bin, "/usr/local/bin", "/usr/bin", "/bin"]
        python_path = [code_dir]
        library_path = []
        if opt_dir:
            path.insert(0, str(opt_dir / "bin"))
            python_path += [str(opt_dir / "python"), str(opt_dir / "python/lib/python3.13/site-packages")]
            library_path.append(str(opt_dir / "lib"))
        environment = dict(self.env_vars)
        environment.update(
            LAMBDA_TASK_ROOT=code_dir,
            LAMBDA_RUNTIME_DIR=str(BOOTSTRAP.parent),
            PATH=":".join(path),
            PYTHONPATH=":".join(python_path),
            LD_LIBRARY_PATH=":".join(library_path),
            TMPDIR=str(self.tmp_dir),
            HOME=str(self.tmp_dir),
            LANG="en_US.UTF-8",
            PYTHONDONTWRITEBYTECODE="1",
            REELSTACK_LAYERS_DIR=str(opt_dir or ""),
            # Marks the process as this local cloud's, so `reelstack local stop` can find strays.
            REELSTACK_LOCALCLOUD_DIR=str(_state_dir().parent),
            _LOCALCLOUD_PORT=str(port),
            _LOCALCLOUD_LOG_FILE=str(self.log_file),
        )
        return environment

    def _spawn(self) -> None:
        port = get_free_tcp_port()
        self._expected_exit = False
        self.endpoint.container_port = port
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        code_dir = self.function_version.config.code.get_unzipped_code_location()
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [_runtime_python(), str(BOOTSTRAP)],
                cwd=code_dir,
                env=self._environment(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so ffmpeg children die with it
            )
        threading.Thread(
            target=self._monitor, args=(self.process,), name=f"lambda-monitor-{self.id}", daemon=True
        ).start()

    def _kill(self) -> None:
        process = self.process
        if process and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _ensure_running(self) -> None:
        if self.process and self.process.poll() is None:
            return
        LOG.info("Restarting execution environment %s of %s", self.id, self.function_version.qualified_arn)
        self.endpoint.startup_future = Future()
        self._spawn()
        self.endpoint.wait_for_startup()

    # -- limits --------------------------------------------------------------------------------

    def _monitor(self, process: subprocess.Popen) -> None:
        """Watch one process: report its death during startup or an invocation; enforce memory."""
        limit = self.function_version.config.memory_size * _MIB
        try:
            root = psutil.Process(process.pid)
        except psutil.NoSuchProcess:
            root = None
        descendants: list[psutil.Process] = []
        refreshed = 0.0
        while process.poll() is None:
            if root is not None and self._pending_request:
                if time.monotonic() - refreshed > DESCENDANTS_REFRESH_SECONDS:
                    descendants, refreshed = _descendants(root), time.monotonic()
                if self._rss([root, *descendants]) > limit:
                    self._expected_exit = True
                    self._fail_pending(
                        "Runtime.OutOfMemory", "Runtime exited with error: signal: killed (memory limit exceeded)"
                    )
                    self._kill()
                    return
                time.sleep(MONITOR_INTERVAL_SECONDS)
            else:
                self._invoked.wait(IDLE_MONITOR_SECONDS)
                self._invoked.clear()
        if self._stopping or self._expected_exit or process is not self.process:
            return
        code = process.returncode
        reason = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        startup = self.endpoint.startup_future
        if startup is not None and not startup.done():
            with contextlib.suppress(InvalidStateError):
                startup.set_exception(LambdaRuntimeException(f"Runtime exited during init with {reason}"))
        self._fail_pending("Runtime.ExitError", f"Runtime exited with error: {reason}")

    @staticmethod
    def _rss(processes: list[psutil.Process]) -> int:
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def _fail_pending(self, error_type: str, message: str, *, lambda_prefix: bool = True) -> None:
        """Answer the pending invocation with an error, as Lambda does when it ends an environment."""
        request_id = self._pending_request
        future = self.endpoint.invocation_future
        if not request_id or future is None or future.done():
            return
        if lambda_prefix:
            message = f"RequestId: {request_id} Error: {message}"
        body = json.dumps({"errorType": error_type, "errorMessage": message})
        result = InvocationResult(request_id, body.encode(), is_error=True, logs=self._logs_since(self._log_offset))
        with contextlib.suppress(InvalidStateError):
            future.set_result(result)

    def _timed_out(self, request_id: str) -> None:
        if self._pending_request != request_id:
            return
        timeout = self.function_version.config.timeout
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        self._expected_exit = True  # the monitor sees the exit but leaves the invocation to us
        self._kill()
        message = f"{now} {request_id} Task timed out after {timeout:.2f} seconds"
        self._fail_pending("Sandbox.Timedout", message, lambda_prefix=False)

    # -- invocation ------------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._lock:
            self._ensure_running()
            request_id = payload["invoke-id"]
            self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            self._pending_request = request_id
            self._invoked.set()
            timer = threading.Timer(self.function_version.config.timeout, self._timed_out, args=(request_id,))
            timer.daemon = True
            timer.start()
            try:
                return self.endpoint.invoke(payload)
            finally:
                timer.cancel()
                self._pending_request = None

    def _logs_since(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                return log.read(1_000_000).decode("utf-8", "replace")
        except OSError:
            return ""

    def get_logs(self) -> str:
        return self._logs_since(0)

    # -- addresses -------------------------------------------------------------------------------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://127.0.0.1:{port}{self.endpoint.get_endpoint_prefix()}"

    # -- versions ----------------------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime
        if runtime not in SUPPORTED_RUNTIMES:
            raise LambdaRuntimeException(
                f"Runtime {runtime!r} is not supported by the local-process executor "
                f"(supported: {', '.join(sorted(SUPPORTED_RUNTIMES))})"
            )
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        _merged_layers_dir(function_version)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Merged layer folders are shared by every function with the same layers; they go with
        # `reelstack local stop --clean`.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        if not Path(_runtime_python()).exists():
            LOG.error("The Lambda runtime interpreter %s does not exist", _runtime_python())
            return False
        return True


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = "local-process"

    def load(self, *args, **kwargs) -> type[RuntimeExecutor]:
        return LocalProcessExecutor
