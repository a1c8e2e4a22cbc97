"""Where things live and what they are called, for the CLI (overridable by environment variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
# The sources to build and deploy (template, functions, layers, state machines, domain package).
# Tests point this at a modified copy to check that a code change reaches the deployed stack.
PROJECT_ROOT = Path(os.environ.get("REELSTACK_PROJECT_ROOT") or CHECKOUT).resolve()
TEMPLATE = PROJECT_ROOT / "template.yaml"
STATE_MACHINE = PROJECT_ROOT / "statemachines" / "pipeline.asl.json"
LOCAL_DIR = CHECKOUT / ".local"  # installed runtimes and build cache; never committed
BUILD_DIR = LOCAL_DIR / "build"
LOCALSTACK_PYTHON = LOCAL_DIR / "localstack-venv" / "bin" / "python"
LAMBDA_RUNTIME_PYTHON = LOCAL_DIR / "lambda-runtime" / "bin" / "python"
REGION = "us-east-1"
LOCAL_ACCESS_KEY = "test"  # LocalStack's static test credentials (account 000000000000)


@dataclass(frozen=True)
class Settings:
    cloud_dir: Path  # the local cloud's state, logs and pid file
    port: int
    stack_name: str

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def settings() -> Settings:
    return Settings(
        cloud_dir=Path(os.environ.get("REELSTACK_CLOUD_DIR") or LOCAL_DIR / "cloud").resolve(),
        port=int(os.environ.get("REELSTACK_LOCAL_PORT") or 4566),
        stack_name=os.environ.get("REELSTACK_STACK") or "reelstack-dev",
    )
