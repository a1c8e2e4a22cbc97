"""Every case of the media matrix through the pipeline's own FFmpeg work (probe, plan, ladder,
thumbnails, previews) with the layer's FFmpeg build, and what a viewer would notice checked on the
outputs. The integration tests send a representative part of it through the local cloud."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from reelstack.errors import ReelstackError
from reelstack.media import ffmpeg, fmp4, hls, render
from reelstack.media.ladder import Plan, plan_ladder
from reelstack_cli import media as test_media
from tests.media_cases import (
    MATRIX,
    Case,
    Seen,
    check_poster,
    check_rendition,
    decoded_tone,
    mean_volume,
    playlist_probe,
    probe,
    rgb_psnr,
    source_facts,
)


def seconds_left() -> float:
    return 120.0


@pytest.mark.parametrize("case", MATRIX, ids=[case.name for case in MATRIX])
def test_media_matrix(case: Case, tmp_path: Path) -> None:
    source = case.make(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    try:
        media = render.inspect(source, seconds_left, work)
    except ReelstackError as refused:
        assert refused.code == case.outcome, refused.message
        _assert_a_sentence(refused.message, source)
        _assert_it_says_what_the_file_is(case, refused.message)
        return
    plan = plan_ladder(media)
    hls = tmp_path / "hls"
    hls.mkdir()
    try:
        ladder = render.encode_ladder(source, media, plan, hls, seconds_left)
    except ReelstackError as failed:
        assert failed.code == case.outcome, failed.message
        _assert_a_sentence(failed.message, source)
        _assert_it_says_what_the_file_is(case, failed.message)
        return
    assert case.outcome == "ready", f"{case.name} should have failed with {case.outcome}"
    warnings = list(ladder.warnings)
    seen = Seen()
    facts = source_facts(source) if media.has_video else {}
    muxed = media.has_audio and not plan.separate_audio  # else the audio renditions carry it
    for rendition in plan.renditions:
        if media.has_video:
            check_rendition(seen, hls, {**rendition.__dict__}, facts, media.is_hdr, muxed)
            short_side = min(rendition.width, rendition.height)
            seen.check(short_side <= min(media.width, media.height), f"{rendition.name} is upscaled")
    _check_codecs(seen, hls, plan)
    if case.audible:
        volume = mean_volume(hls / plan.playlists[-1] / "index.m3u8", "-allowed_extensions", "ALL")
        seen.check(volume > -40, f"the track that plays is silent ({volume} dB): the wrong audio track was chosen")
    _check_languages(seen, hls, plan, case)
    if media.has_audio:
        seen.check(bool(ladder.loudness), "the audio's loudness was not measured")
    assert media.dynamic_range == case.dynamic_range
    if media.has_video:
        thumbnails, previews = tmp_path / "thumbnails", tmp_path / "previews"
        thumbnails.mkdir()
        previews.mkdir()
        made = render.make_thumbnails(source, media, thumbnails, seconds_left)
        warnings += made.warnings
        check_poster(seen, thumbnails / "poster.jpg", (media.width, media.height))
        if "storyboard.jpg" in made.files:
            _check_storyboard(seen, thumbnails)
        extras = render.make_previews(source, media, previews, seconds_left)
        warnings += extras.warnings
        if "preview.mp4" in extras.files:
            _check_preview(seen, previews / "preview.mp4")
        if "preview.webp" in extras.files:
            with Image.open(previews / "preview.webp") as animated:
                # libwebp merges repeated frames: a 1 fps source has one picture a second.
                distinct = min(3.0, media.duration_seconds) * min(10.0, float(media.fps))
                seen.check(animated.n_frames >= max(1, min(10, int(distinct) - 1)), f"{animated.n_frames} WebP frames")
    assert {warning.code for warning in warnings} == set(case.warnings), warnings
    for warning in warnings:
        _assert_a_sentence(warning.message, source)
    assert not seen.notes, f"{case.name}: " + "; ".join(seen.notes)


def _check_languages(seen: Seen, folder: Path, plan: Plan, case: Case) -> None:
    """Each language's audio rendition, tagged in the master, plays its own track (its own tone)."""
    master = (folder / "master.m3u8").read_text()
    media = re.findall(r'^#EXT-X-MEDIA:TYPE=AUDIO.*LANGUAGE="([^"]+)".*URI="([^"]+)"', master, re.M)
    seen.check(
        [language for language, _ in media] == [language for language, _ in case.languages],
        f"the master's audio languages are {media}, not {case.languages}",
    )
    for (_, uri), (language, tone) in zip(media, case.languages, strict=False):
        heard = decoded_tone(folder / uri, "-allowed_extensions", "ALL")
        seen.check(abs(heard - tone) < tone * 0.03, f"the {language} rendition plays {heard:.0f} Hz, not {tone} Hz")
    if case.languages:
        first = master.splitlines()[3]
        seen.check(plan.separate_audio and "DEFAULT=YES" in first, f"the first language is not the default: {first}")


def _check_codecs(seen: Seen, folder: Path, plan: Plan) -> None:
    """Each rendition's CODECS in the master names what its init segment really holds (avcC, esds):
    a player picks renditions by them, and some refuse a stream above the level it was promised."""
    master = (folder / "master.m3u8").read_text()
    codecs_found, renditions_found = (
        re.findall(r'CODECS="([^"]+)"', master),
        re.findall(r"^(\S+)/index.m3u8$", master, re.M),
    )
    declared = list(zip(codecs_found, renditions_found, strict=True))
    for codecs, rendition in declared:
        text = (folder / rendition / "index.m3u8").read_text()
        held = {track.codec for track in fmp4.tracks((folder / rendition / hls.playlist_init(text)).read_bytes())}
        if plan.separate_audio:  # with the audio group's
            held.add(hls.AUDIO_CODECS)
        seen.check(
            set(codecs.split(",")) == held, f"{rendition} declares CODECS {codecs}; its init segment holds {held}"
        )
    seen.check(len(declared) == len(plan.renditions), f"the master lists {len(declared)} renditions")


# The refusals that name what a file is (not what is wrong with a video).
NOT_VIDEO = [case for case in MATRIX if case.outcome in ("NotMedia", "ImageOnly", "UnsupportedContainer")]


@pytest.mark.parametrize("case", NOT_VIDEO, ids=[case.name for case in NOT_VIDEO])
def test_a_refusal_names_the_file_from_its_bytes_not_its_name(case: Case, tmp_path: Path) -> None:
    """The probe step downloads every upload as ``source``, without an extension, and FFmpeg guesses
    from an extension (a text named .mp4 goes to the MP4 demuxer, "moov atom not found"): the
    sentence must be the same either way."""
    named = case.make(tmp_path)
    bare = tmp_path / "bare" / "source"
    bare.parent.mkdir()
    bare.write_bytes(named.read_bytes())
    told = []
    for source in (named, bare):
        work = tmp_path / f"work-{len(told)}"
        work.mkdir()
        with pytest.raises(ReelstackError) as refused:
            render.inspect(source, seconds_left, work)
        told.append((refused.value.code, refused.value.message))
    assert told[0] == told[1]


def _check_storyboard(seen: Seen, folder: Path) -> None:
    """Cues that point into the sheet, and tiles that show different moments (the test pattern moves),
    not one keyframe's picture repeated."""
    vtt = (folder / "storyboard.vtt").read_text()
    tiles = [tuple(map(int, box.split(","))) for box in re.findall(r"#xywh=([\d,]+)", vtt)]
    seen.check(vtt.startswith("WEBVTT") and bool(tiles), "storyboard cues")
    with Image.open(folder / "storyboard.jpg") as sheet:
        seen.check(sheet.format == "JPEG", "the storyboard is not a JPEG")
        boxes = [(x, y, x + w, y + h) for x, y, w, h in tiles]
        dark = [index for index, box in enumerate(boxes) if ImageStat.Stat(sheet.crop(box).convert("L")).mean[0] < 30]
        seen.check(not dark, f"storyboard tiles {dark} are empty")
        if len(boxes) >= 2:
            change = ImageStat.Stat(ImageChops.difference(sheet.crop(boxes[0]), sheet.crop(boxes[-1])).convert("L"))
            seen.check(change.mean[0] > 3, f"the storyboard repeats one picture ({change.mean[0]:.1f} apart)")


def _check_preview(seen: Seen, preview: Path) -> None:
    described = probe(preview)
    kinds = [stream["codec_type"] for stream in described["streams"]]
    seen.check(kinds == ["video"], f"the preview has {kinds}")
    video = described["streams"][0]
    seen.check((video["pix_fmt"], video.get("color_range")) == ("yuv420p", "tv"), f"preview picture {video['pix_fmt']}")
    seen.check(float(described["format"]["duration"]) <= 4.1, "the preview is longer than 4 s")
    seen.check(preview.stat().st_size < ffmpeg.PREVIEW_MAX_BYTES, "the preview is too big for a feed")


def _assert_a_sentence(message: str, source: Path) -> None:
    """What a person reads: one sentence about the file, never FFmpeg's stderr, addresses or paths."""
    assert message and "\n" not in message, message
    assert str(source.parent) not in message and "/tmp" not in message, message
    assert " @ 0x" not in message and "[" not in message, message


def _assert_it_says_what_the_file_is(case: Case, message: str) -> None:
    """A refusal names what the file is (or what is wrong with it), from what the file holds, not
    from its name; and only a file that points to other files or addresses is told that it does."""
    assert case.says, f"{case.name} is refused: the case must say what its sentence names"
    assert case.says in message, f"{case.name}: {message!r} does not say {case.says!r}"
    assert ("points to" in message) == case.points_elsewhere, f"{case.name}: {message!r}"


# -- HDR: tone-mapped close to the SDR picture it was made from ---------------------------------------


# Both inputs from their first frame: FFmpeg does not move an EVENT playlist's timeline to zero, as it
# does a file's (it reads it as live), and the psnr filter pairs frames by their timestamps.
_FROM_ZERO = "[0:v]setpts=PTS-STARTPTS,split[a][c];[1:v]setpts=PTS-STARTPTS,split[b][d]"


def _psnr_ssim(distorted: Path, reference: Path, *extra: str) -> tuple[float, float]:
    """FFmpeg's PSNR (luma, dB) and SSIM (all planes) of ``distorted`` against ``reference``."""
    command = [test_media.ffmpeg(), "-hide_banner", "-nostats", *extra, "-i", str(distorted), "-i", str(reference),
               "-lavfi", f"{_FROM_ZERO};[a][b]psnr;[c][d]ssim", "-f", "null", "-"]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    return float(re.search(r"PSNR y:([\d.]+)", output).group(1)), float(
        re.search(r"SSIM .*All:([\d.]+)", output).group(1)
    )


@pytest.mark.parametrize("transfer", ["hlg", "pq"])
def test_hdr_comes_out_close_to_the_sdr_picture_it_was_made_from(transfer: str, tmp_path: Path) -> None:
    """The same test pattern as SDR BT.709 and as HDR (zscale, reference white at 203 nits, as phones
    put it), both through the pipeline. The HDR one must come out tagged BT.709 and close to the SDR
    original. Thresholds, from runs of this test (2 s, 640x360, sources at CRF 12): tone-mapped as
    the pipeline does, ~30.8 dB PSNR-Y, SSIM 0.93-0.94, poster ~23 dB RGB PSNR; the usual hable chain
    (everything dimmer) 18.2 dB, SSIM 0.91, poster 15 dB; the HDR signal left as it is (washed out)
    14-18 dB, SSIM 0.81-0.86, poster 9-11 dB; the SDR source itself 44.6 dB and poster 29.5 dB.
    27 dB, SSIM 0.92 and 20 dB separate right from wrong with room for encoder noise."""
    recipe = test_media.Clip(2, 640, 360, audio="none", crf=12)  # both sources close to the pattern
    sdr = test_media.make_clip(tmp_path / "sdr.mp4", recipe)
    hdr = test_media.make_clip(tmp_path / f"{transfer}.mov", replace(recipe, codec="hevc", colour=transfer,
                                                                          container="mov"))  # fmt: skip
    results = {}
    for name, source in (("sdr", sdr), ("hdr", hdr)):
        work = tmp_path / name
        (work / "hls").mkdir(parents=True)
        (work / "thumbnails").mkdir()
        media = render.inspect(source, seconds_left, work)
        plan = plan_ladder(media)
        render.encode_ladder(source, media, plan, work / "hls", seconds_left)
        render.make_thumbnails(source, media, work / "thumbnails", seconds_left)
        top = work / "hls" / plan.renditions[0].name / "index.m3u8"
        video = next(s for s in playlist_probe(top)["streams"] if s["codec_type"] == "video")
        assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3
        psnr, ssim = _psnr_ssim(top, sdr, "-allowed_extensions", "ALL")
        # The poster against the SDR original's frame at the same moment (a tenth in).
        reference = tmp_path / f"reference-{name}.png"
        subprocess.run([test_media.ffmpeg(), "-v", "error", "-y", "-i", str(sdr), "-ss", "0.2", "-frames:v", "1",
                        str(reference)], check=True)  # fmt: skip
        with Image.open(work / "thumbnails" / "poster.jpg") as poster, Image.open(reference) as frame:
            poster_psnr = rgb_psnr(poster, frame.resize(poster.size))
        results[name] = (psnr, ssim, poster_psnr, media.dynamic_range)
    psnr, ssim, poster_psnr, dynamic_range = results["hdr"]
    assert dynamic_range == transfer
    assert psnr >= 27 and ssim >= 0.92, results
    assert poster_psnr >= 20, results
