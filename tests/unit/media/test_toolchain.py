"""Where the FFmpeg binaries are and which build they are."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from reelstack.errors import ToolchainFailed, ToolchainMissing
from reelstack.media.toolchain import ffmpeg_build


def _fake_ffmpeg(folder: Path, script: str) -> Path:
    binary = folder / "ffmpeg"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_the_version_is_read_from_the_banner(tmp_path: Path, setenv: Callable[..., None]) -> None:
    binary = _fake_ffmpeg(tmp_path, 'echo "ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright (c)"\n')
    setenv(FFMPEG_PATH=str(binary))
    build = ffmpeg_build()
    assert (build.version, build.path) == ("9.0.2", str(binary))


def test_a_missing_ffmpeg_tells_the_user_it_is_our_fault_and_the_operators_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setenv: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    setenv(FFMPEG_PATH="")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainMissing) as raised:
        ffmpeg_build()
    assert raised.value.code == "ProcessingError" and not raised.value.transient
    assert "not in the file" in raised.value.message and "layer" not in raised.value.message
    assert "ffmpeg was not found" in caplog.text and "layer" in caplog.text


def test_an_ffmpeg_that_fails_is_a_named_transient_error(tmp_path: Path, setenv: Callable[..., None]) -> None:
    setenv(FFMPEG_PATH=str(_fake_ffmpeg(tmp_path, "echo 'Illegal instruction' >&2\nexit 132\n")))
    with pytest.raises(ToolchainFailed, match="exited 132") as raised:
        ffmpeg_build()
    assert raised.value.transient
