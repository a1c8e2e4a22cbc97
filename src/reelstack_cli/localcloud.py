"""Start, stop and inspect the local cloud: LocalStack's runtime in host mode, no Docker.

LocalStack runs from its own Python 3.13 virtualenv (``make localcloud`` installs the pinned set from
``infra/localstack/requirements.txt`` plus our plugins from ``infra/localcloud``). Its state, logs and
the Lambda environments' temporary folders live under the cloud folder (``.local/cloud`` unless
``REELSTACK_CLOUD_DIR`` says otherwise); its one port is ``REELSTACK_LOCAL_PORT`` (4566).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstack_cli.settings import LAMBDA_RUNTIME_PYTHON, LOCALSTACK_PYTHON, Settings

SERVICES = [
    "cloudformation",
    "s3",
    "sqs",
    "sns",
    "stepfunctions",
    "lambda",
    "dynamodb",
    "apigateway",
    "iam",
    "sts",
    "logs",
    # Not "cloudwatch": the stack's metrics are Powertools' EMF lines in its logs, and with the
    # service on, LocalStack wrote metrics of its own for every invocation and queue call.
    "events",
]
INSTALL_HINT = "run `make localcloud` (it installs LocalStack's pinned runtime and the plugins)"
OUTDATED_PLUGINS = (
    "the local cloud started before its plugins were last installed (`make localcloud`), so it runs the "
    "old ones: restart it to load them (`reelstack local stop`, `reelstack local start`, `reelstack deploy`; "
    "a restart forgets the local cloud's stack and data)"
)


class LocalCloudError(RuntimeError):
    """The local cloud could not be started, or is not there."""


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    endpoint: str
    services: dict[str, str]
    version: str | None
    log_file: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.pid,
            "endpoint": self.endpoint,
            "version": self.version,
            "services": self.services,
            "logFile": str(self.log_file),
        }


class LocalCloud:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.cloud_dir
        self.pid_file = self.dir / "localstack.pid"
        self.log_file = self.dir / "logs" / "localstack.log"

    # -- inspection ------------------------------------------------------------------------------

    def _health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            url = f"{self.settings.endpoint}/_localstack/health"
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def status(self) -> Status:
        pid = self._pid()
        # Only a LocalStack this folder's pid file names counts: another one on the port lacks our plugins.
        health = self._health() if pid else None
        services = {name: state for name, state in (health or {}).get("services", {}).items() if name in SERVICES}
        return Status(
            running=health is not None,
            pid=pid,
            endpoint=self.settings.endpoint,
            services=services,
            version=(health or {}).get("version"),
            log_file=self.log_file,
        )

    @staticmethod
    def _site_packages() -> Path:
        return LOCALSTACK_PYTHON.parent.parent / "lib" / "python3.13" / "site-packages"

    def missing_parts(self) -> list[str]:
        missing = []
        if not LOCALSTACK_PYTHON.exists():
            missing.append(f"LocalStack's runtime ({LOCALSTACK_PYTHON.parent.parent})")
        elif not (self._site_packages() / "reelstack_localcloud").is_dir():
            missing.append("the reelstack-localcloud plugins in LocalStack's virtualenv")
        if not LAMBDA_RUNTIME_PYTHON.exists():
            missing.append(f"the Lambda runtime interpreter ({LAMBDA_RUNTIME_PYTHON.parent.parent})")
        return missing

    def runs_outdated_plugins(self) -> bool:
        """Whether the plugins were installed again (`make localcloud`, as `make demo` does after a pull)
        after this local cloud started: LocalStack loads them once, when it starts."""
        if not self._pid():
            return False
        records = self._site_packages().glob("reelstack_localcloud-*.dist-info/RECORD")
        return any(record.stat().st_mtime > self.pid_file.stat().st_mtime for record in records)

    # -- lifecycle -------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        state = self.dir
        return {
            # A clean environment: the developer's AWS settings must not leak into the local cloud.
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(state)),
            "LANG": "C.UTF-8",
            "GATEWAY_LISTEN": f"127.0.0.1:{self.settings.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.settings.port}",
            "SERVICES": ",".join(SERVICES),
            "EAGER_SERVICE_LOADING": "1",
            "LOCALSTACK_VOLUME_DIR": str(state / "volume"),
            "TMPDIR": str(state / "tmp"),  # Lambda code and layers unzip here
            "XDG_CACHE_HOME": str(state / "cache"),  # plux's entry point cache
            # LocalStack keeps its TLS certificate in one machine-wide folder and rewrites its key and
            # certificate files at every start: two clouds starting at once (the test workers) could read
            # each other's half-written file and fail to start. Each cloud has its own.
            "CUSTOM_SSL_CERT_PATH": str(state / "cache" / "server.test.pem"),
            "REELSTACK_LOCALCLOUD_DIR": str(state),
            "REELSTACK_LAMBDA_PYTHON": str(LAMBDA_RUNTIME_PYTHON),
            "LAMBDA_RUNTIME_EXECUTOR": "local-process",
            # A new execution environment is a Python process importing boto3, Powertools and pynamodb.
            # On a 2-core laptop busy with FFmpeg that takes far longer than on AWS; LocalStack's 20 s
            # default then fails invocations (the state machine's step fails) instead of waiting.
            "LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT": "90",
            # An asynchronous invocation that failed is retried after 1 s, then 2 s (AWS and LocalStack's
            # default: about a minute, then two), so a failed event reaches its dead-letter queue in
            # seconds. LocalStack reads it under this name (its setting is LAMBDA_RETRY_BASE_DELAY_SECONDS).
            "LAMBDA_RETRY_BASE_DELAY": "1",
            "PROVIDER_OVERRIDE_DYNAMODB": "moto",
            # Presigned URLs are checked as on AWS: tampered or expired ones get 403.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "SQS_ENDPOINT_STRATEGY": "path",
            "DNS_ADDRESS": "0",  # no DNS server: nothing here resolves through it
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics: the network reaches only package registries
            "LS_LOG": os.environ.get("REELSTACK_LOCALSTACK_LOG", "info"),
        }

    def _port_taken(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", self.settings.port)) == 0

    def start(self, timeout: float = 90.0, on_wait: Any = None) -> Status:
        status = self.status()
        if status.running:
            return status
        if missing := self.missing_parts():
            raise LocalCloudError(f"missing: {'; '.join(missing)}. To install, {INSTALL_HINT}.")
        if self._port_taken():
            raise LocalCloudError(
                f"port {self.settings.port} is taken by another program; stop it or set REELSTACK_LOCAL_PORT"
            )
        for folder in ("logs", "tmp", "cache", "volume", "run"):
            (self.dir / folder).mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"],
                cwd=self.dir / "run",  # never a folder that could shadow the plugin package
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalCloudError(
                    f"LocalStack exited with code {process.returncode} while starting:\n{self.log_tail()}"
                )
            health = self._health(timeout=1.0) or {}
            services_up = all(health.get("services", {}).get(name) in ("running", "available") for name in SERVICES)
            if services_up and b"Ready." in self.log_file.read_bytes()[-20000:]:
                return self.status()
            if on_wait:
                on_wait(time.monotonic() - (deadline - timeout))
            time.sleep(0.25)
        self.stop()
        raise LocalCloudError(f"LocalStack was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, clean: bool = False, timeout: float = 15.0) -> bool:
        """Stop the local cloud; with ``clean`` also drop its state. Returns whether it was running."""
        pid = self._pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._pid():
                time.sleep(0.2)
            if self._pid():
                os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        # Lambda environments run in sessions of their own; end any LocalStack left behind.
        self._kill_lambda_environments()
        if clean:
            shutil.rmtree(self.dir, ignore_errors=True)
        return pid is not None

    def _kill_lambda_environments(self) -> None:
        marker = f"REELSTACK_LOCALCLOUD_DIR={self.dir}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    os.killpg(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
