"""Where the FFmpeg binaries are and which build they are."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass

from reelstack.config import deployment
from reelstack.errors import ToolchainFailed, ToolchainMissing

VERSION_TIMEOUT_SECONDS = 10
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FfmpegBuild:
    path: str
    version: str  # e.g. "9.0.2"
    banner: str  # the first line of `ffmpeg -version`

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def find_binary(name: str) -> str:
    """The absolute path of ``name``: ``$<NAME>_PATH`` if set, else the first on PATH (layers' bin/)."""
    path = deployment().tool_paths.get(name) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        # For the operators: which binary, where it was looked for. The user is told a sentence only.
        log.error(
            "toolchain missing: %s was not found (not in %s_PATH, not on PATH); is the layer that provides "
            "it attached to this function in template.yaml?", name, name.upper(),
        )  # fmt: skip
        raise ToolchainMissing()
    return path


def ffmpeg_build() -> FfmpegBuild:
    path = find_binary("ffmpeg")
    try:
        result = subprocess.run(
            [path, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolchainFailed(f"ffmpeg -version did not answer within {VERSION_TIMEOUT_SECONDS}s") from error
    banner = result.stdout.splitlines()[0] if result.stdout else ""
    match = re.match(r"ffmpeg version n?(\d+(?:\.\d+)+)", banner)
    if result.returncode != 0 or not match:
        raise ToolchainFailed(f"ffmpeg -version exited {result.returncode}: {result.stderr[-500:] or banner!r}")
    return FfmpegBuild(path=path, version=match.group(1), banner=banner)
