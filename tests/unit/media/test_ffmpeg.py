"""The FFmpeg commands and what their failures mean to a person."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reelstack.media import ffmpeg, hls
from reelstack.media.ladder import plan_ladder
from reelstack_cli import media as test_media
from tests.unit.media.conftest import media


def test_master_playlist_names_every_rendition_with_bandwidth_resolution_codecs() -> None:
    text = hls.master_playlist(plan_ladder(media(1280, 720)))
    lines = [line for line in text.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert len(lines) == 3
    assert all("BANDWIDTH=" in line and "RESOLUTION=" in line and 'CODECS="avc1.' in line for line in lines)
    assert "#EXT-X-START" not in text  # only in the media playlists, where every player reads it (VHS only there)


def test_the_storyboard_cues_cover_the_video() -> None:
    board = ffmpeg.plan_storyboard(25, 1920, 1080)
    vtt = board.vtt("storyboard.jpg", 25)
    assert vtt.startswith("WEBVTT")
    assert vtt.count("-->") == 25
    assert "00:00:24.000 --> 00:00:25.000" in vtt
    assert "storyboard.jpg#xywh=160,0,160,90" in vtt


def test_transcode_command_is_hardened_and_decodes_once() -> None:
    source = media(1920, 1080)
    command = ffmpeg.transcode_command(Path("source"), source, plan_ladder(source), Path("out"))
    assert command.count("-i") == 1
    assert command[command.index("-protocol_whitelist") + 1] == "file"
    assert "hls" not in command[command.index("-format_whitelist") + 1].split(",")
    assert "-nostdin" in command
    assert "split=2" in command[command.index("-filter_complex") + 1]


def test_failure_messages_are_sentences_about_the_file() -> None:
    """FFmpeg's stderr never reaches a client: each known complaint is one sentence, the rest a
    general one; memory addresses, paths and log prefixes stay in the function's log."""
    stderr = (
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d1c0] moov atom not found\n"
        "[in#0 @ 0x55d1] Error opening input: Invalid data found when processing input\n"
    )
    assert ffmpeg.explain(stderr, "read the file").code == "Truncated"
    decoding = (
        "[h264 @ 0x7f] error while decoding MB 3 4, bytestream -7\n[vist#0:0/h264 @ 0x5] Decode error rate 0.9 exceeds"
    )
    assert ffmpeg.explain(decoding, "encode the HLS ladder").code == "UnreadableMedia"
    for error in (ffmpeg.explain(stderr, "read the file"), ffmpeg.explain("Segmentation fault at 0x0", "do it")):
        assert "@" not in error.message and "0x" not in error.message and "\n" not in error.message


def test_a_picture_over_the_pixel_limit_is_named_so_by_the_real_ffmpeg(tmp_path: Path) -> None:
    """What this FFmpeg really prints for -max_pixels, not what we guess it prints."""
    clip = test_media.make_clip(tmp_path / "clip.mp4", test_media.Clip(0.2, 320, 240, audio="none"))
    command = [test_media.ffmpeg(), "-hide_banner", "-max_pixels", "1000", "-i", str(clip), "-f", "null", "-"]
    stderr = subprocess.run(command, capture_output=True, text=True).stderr
    assert ffmpeg.explain(stderr, "decode the video").code == "ResolutionTooHigh", stderr
    # A damaged header's "Picture size 0x0 is invalid" is not a big picture.
    assert ffmpeg.explain("[h264 @ 0x5] Picture size 0x0 is invalid\n", "decode").code != "ResolutionTooHigh"


def test_the_whitelists_refusals_are_told_apart_by_the_real_ffprobe(tmp_path: Path) -> None:
    """A file whose demuxer is not on the format whitelist is named by that demuxer (a PNG is a
    picture, it points nowhere); a file that reaches for an address by a protocol not on the
    protocol whitelist (an SDP's rtp stream, read here with the format whitelist left off on
    purpose) is told that it points elsewhere."""
    png = tmp_path / "photo.mp4"
    subprocess.run([test_media.ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1",
                    "-c:v", "png", "-f", "image2", str(png)], check=True)  # fmt: skip
    sdp = tmp_path / "stream.sdp"
    sdp.write_text("v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n")

    def stderr(*arguments: str) -> str:
        command = [test_media.ffprobe(), "-v", "error", *arguments]
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stderr

    picture = ffmpeg.explain(stderr(*ffmpeg.SAFE_INPUT, "-i", str(png)), "read the file's header")
    assert (picture.code, picture.message) == ("ImageOnly", "the file is a PNG picture, not a video or audio file")
    stream = ffmpeg.explain(stderr("-protocol_whitelist", "file", "-i", str(sdp)), "read the file's header")
    assert stream.code == "NotMedia"
    assert stream.message.startswith("the file points to other files or network addresses (over rtp)")
    assert ffmpeg.explain(stderr(*ffmpeg.SAFE_INPUT, "-i", str(sdp)), "read").message.startswith(
        "the file is an SDP session description: it points to a network stream"
    )


@pytest.mark.parametrize(
    ("duration", "interval", "count"),
    [(0.04, 1, 1), (2.0, 1, 2), (2.05, 1, 2), (100.0, 1, 100), (100.05, 1, 100), (100.2, 2, 51), (3600, 36, 100)],
)
def test_the_storyboard_has_a_tile_per_interval_and_no_tile_for_a_last_sliver(
    duration: float, interval: int, count: int
) -> None:
    board = ffmpeg.plan_storyboard(duration, 1920, 1080)
    assert (board.interval_seconds, board.count) == (interval, count)
    assert (board.tile_width, board.tile_height) == (160, 90)
    assert ffmpeg.plan_storyboard(duration, 64, 48).tile_width == 64  # never upscaled


# The session's nice value and the tool's own. A process in no session's group (started by a service that
# never called setsid, as CI's runner) reads an empty autogroup file: "-" then.
_REPORT_PRIORITY = (
    "import os, re; found = re.search(r'nice (-?\\d+)', open('/proc/self/autogroup').read()); "
    "print(found.group(1) if found else '-', os.nice(0))"
)


@pytest.mark.skipif(not ffmpeg.runner.AUTOGROUP.exists(), reason="this kernel does not group sessions")
def test_a_yielding_tool_lowers_its_whole_sessions_priority_while_it_runs(tmp_path: Path) -> None:
    """On the local cloud each function is a session of its own, and Linux schedules sessions against
    each other (autogroup): a tool's own nice value would not let another function's FFmpeg go first."""
    leader = f"""
import sys
from pathlib import Path
from reelstack.media.ffmpeg import runner
print(runner.run([sys.executable, "-c", {_REPORT_PRIORITY!r}], 30, Path("."), niceness=19).stdout.strip())
print(runner.AUTOGROUP.read_text().split()[-1])
"""
    # A function's process leads its session, as the local cloud starts it.
    done = subprocess.run([sys.executable, "-c", leader], capture_output=True, text=True, check=True,
                          start_new_session=True, cwd=tmp_path)  # fmt: skip
    during, after = done.stdout.splitlines()
    assert during == "19 19" and after == "0"  # lowered while the tool ran, put back after

    # Anywhere else (a test run, Lambda) only the tool's own priority changes.
    before = ffmpeg.runner.AUTOGROUP.read_text()
    alone = ffmpeg.run([sys.executable, "-c", _REPORT_PRIORITY], 30, tmp_path, niceness=19).stdout.split()
    assert alone[1] == "19" and ffmpeg.runner.AUTOGROUP.read_text() == before


# Each of two threads reports, ten times a second: its name, its session's nice, its own nice.
_REPORT_THREADS = """
import os, threading, time
def report(name):
    for _ in range(15):
        nice = open('/proc/self/autogroup').read().split()[-1]
        os.write(1, f'{name} {nice} {os.nice(0)}\\n'.encode())  # one write: lines of two threads never mix
        time.sleep(0.1)
worker = threading.Thread(target=report, args=('worker',))
worker.start()
report('main')
worker.join()
"""


@pytest.mark.skipif(not ffmpeg.runner.AUTOGROUP.exists(), reason="this kernel does not group sessions")
def test_a_tool_that_yields_once_it_has_published_runs_ahead_until_then(tmp_path: Path) -> None:
    """The chunked audio's first segments are what a player waits for, as the first chunk's: its
    FFmpeg runs at the normal priority until ``yield_when`` says they are out (after a ``watch``), then
    every thread of it, and on the local cloud its session, goes down to the extras' priority."""
    leader = f"""
import sys
from pathlib import Path
from reelstack.media.ffmpeg import runner
watched = []
done = runner.run([sys.executable, "-c", {_REPORT_THREADS!r}], 30, Path("."), watch=lambda: watched.append(1),
                  niceness=10, yield_when=lambda: len(watched) >= 3)
print(done.stdout.strip())
print("after", runner.AUTOGROUP.read_text().split()[-1])
"""
    done = subprocess.run([sys.executable, "-c", leader], capture_output=True, text=True, check=True,
                          start_new_session=True, cwd=tmp_path)  # fmt: skip
    *reports, after = done.stdout.splitlines()
    assert after == "after 0"  # the session's priority put back once the tool ended
    for thread in ("main", "worker"):
        seen = [line.split()[1:] for line in reports if line.startswith(thread)]
        assert seen[0] == ["0", "0"] and seen[-1] == ["10", "10"], (thread, seen)
        assert sorted(seen, key=lambda pair: pair[1]) == seen, (thread, seen)  # lowered once, never back


def _children_states() -> list[str]:
    """The scheduler state (R, S, T...) of each child process of this one."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid():
                states.append(fields[0])
    return states


def test_a_yielded_tool_is_held_stopped_while_asked_then_goes_on_to_its_end(tmp_path: Path) -> None:
    """The chunked audio, its first segments out, is stopped until the asset is playable: niced only,
    it still took 2 s of CPU in the first chunk's idle moments. Held from its yield, let go when
    ``hold_while`` says no, and it finishes what it was doing."""
    watched, asked, seen = [], [], []

    def hold_while() -> bool:
        asked.append(1)
        if len(asked) > 1:
            seen.extend(_children_states())  # what the tool is while held
        return len(asked) <= 3

    counting = "import time\nfor n in range(12):\n print(n, flush=True)\n time.sleep(0.1)"
    done = ffmpeg.run([sys.executable, "-c", counting], 30, tmp_path, watch=lambda: watched.append(1), niceness=10,
                      yield_when=lambda: len(watched) >= 2, hold_while=hold_while)  # fmt: skip
    assert done.stdout.split() == [str(n) for n in range(12)]  # let go, it went on to its end
    assert seen and set(seen) == {"T"}, seen  # stopped while held
    assert len(asked) == 4  # asked until it let go, then never again


def test_a_tool_that_ends_as_it_is_held_ends_well(tmp_path: Path) -> None:
    """The audio of a short video can end in the moment it is held (stopping an ended process is
    allowed, waking a reaped one is not): its result stands, as if it had never been held."""

    def hold_while() -> bool:
        waited_until = time.monotonic() + 10
        while "Z" not in _children_states() and time.monotonic() < waited_until:  # ended, not yet reaped
            time.sleep(0.01)
        return True

    done = ffmpeg.run([sys.executable, "-c", "print('done')"], 30, tmp_path, watch=lambda: None, niceness=10,
                      yield_when=lambda: True, hold_while=hold_while)  # fmt: skip
    assert done.stdout.strip() == "done"
