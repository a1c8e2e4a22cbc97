"""Audio tracks and loudness: which tracks an asset keeps and what players call them (pure), and the
loudness measured and evened out by the pipeline's own FFmpeg work on small generated clips."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reelstack.media import hls, render
from reelstack.media.ladder import plan_ladder
from reelstack.media.loudness import Loudness, Target, level_filter, read_report
from reelstack.media.tracks import MAX_AUDIO_TRACKS, AudioTrack, describe_track, keep_tracks, language_code
from reelstack_cli.media import Clip, make_clip
from tests.media_cases import decoded_tone, loudness_of
from tests.unit.media.conftest import media

HLS = ("-allowed_extensions", "ALL")


def seconds_left() -> float:
    return 120.0


# -- which tracks are kept ------------------------------------------------------------------------


def stream(index: int, language: str | None = None, title: str | None = None, **disposition: int) -> dict:
    tags = {key: value for key, value in (("language", language), ("title", title)) if value}
    return {"index": index, "codec_type": "audio", "codec_name": "aac", "tags": tags, "disposition": disposition}


def tracks(*streams: dict, chosen: int = 0) -> list[AudioTrack]:
    return [describe_track(item, position == chosen) for position, item in enumerate(streams)]


def test_each_language_is_kept_once_the_default_first() -> None:
    kept = keep_tracks(tracks(stream(1, "fre"), stream(2, "eng"), stream(3, "fra", "Français 5.1"), chosen=1))
    assert [(track.stream, track.language, track.name) for track in kept.tracks] == [
        (2, "en", "English"),
        (1, "fr", "French"),
    ]
    assert kept.dropped == 0


def test_commentary_and_descriptions_keep_their_titles_beside_their_language() -> None:
    found = tracks(
        stream(1, "eng"),
        stream(2, "eng", "Director's commentary"),
        stream(3, "eng", "English", visual_impaired=1),
        stream(4, "und", "Music and effects"),  # untagged beside tagged tracks: left out
    )
    kept = keep_tracks(found)
    assert [(track.stream, track.kind, track.name) for track in kept.tracks] == [
        (1, None, "English"),
        (2, "commentary", "Director's commentary"),
        (3, "descriptions", "English"),
    ]


def test_without_languages_tracks_are_told_apart_by_their_titles() -> None:
    kept = keep_tracks(tracks(stream(1, title="Stage mix"), stream(2), stream(3, title="Room mics"), stream(4)))
    assert [(track.stream, track.name) for track in kept.tracks] == [(1, "Stage mix"), (3, "Room mics")]
    # Untagged and untitled, as phones and the older test clips write them: the chosen one alone.
    assert [track.stream for track in keep_tracks(tracks(stream(1), stream(2), chosen=1)).tracks] == [2]


def test_at_most_eight_tracks_are_kept_and_more_is_a_warning() -> None:
    languages = ["eng", "fre", "ger", "spa", "ita", "por", "jpn", "kor", "chi", "rus"]
    found = tracks(*(stream(index + 1, language) for index, language in enumerate(languages)))
    kept = keep_tracks(found)
    assert len(kept.tracks) == MAX_AUDIO_TRACKS and kept.dropped == 2
    described = replace(media(640, 360), audio_tracks=found, audio_stream=1)
    warnings = plan_ladder(described).warnings()
    assert [warning["code"] for warning in warnings] == ["AudioTracksDropped"]
    assert "10 audio tracks" in warnings[0]["message"]


@pytest.mark.parametrize(
    ("tag", "code"),
    [("eng", "en"), ("fre", "fr"), ("ger", "de"), ("en-US", "en-us"), ("und", None), ("", None), ("tlh", "tlh")],
)
def test_language_tags_become_bcp_47(tag: str, code: str | None) -> None:
    assert language_code(tag) == code


def test_the_master_lists_every_language_as_an_audio_rendition() -> None:
    found = tracks(stream(1, "eng"), stream(2, "fre"), stream(3, "eng", "Audio description", descriptions=1))
    plan = plan_ladder(replace(media(640, 360), audio_tracks=found, audio_stream=1))
    master = hls.master_playlist(plan)
    assert plan.separate_audio and plan.playlists[-3:] == ["audio", "audio2", "audio3"]
    media_lines = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:")]
    assert media_lines[0] == (
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="English",LANGUAGE="en",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio/index.m3u8"'
    )
    assert 'NAME="French",LANGUAGE="fr",DEFAULT=NO' in media_lines[1]
    assert 'CHARACTERISTICS="public.accessibility.describes-video"' in media_lines[2]
    assert all('AUDIO="audio"' in line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF"))
    # One track: in every rendition, as before (no group).
    single = plan_ladder(replace(media(640, 360), audio_tracks=found[:1], audio_stream=1))
    assert not single.separate_audio and "#EXT-X-MEDIA" not in hls.master_playlist(single)


# -- loudness: the figures, and the second pass's filters -------------------------------------------------


def test_the_report_gives_the_last_integrated_figures_and_the_highest_true_peak() -> None:
    report = (
        "frame:0 pts:0 pts_time:0\nlavfi.r128.I=-70.000\nlavfi.r128.LRA=0.000\nlavfi.r128.true_peaks_ch0=0.500\n"
        "lavfi.r128.true_peaks_ch1=0.250\nframe:1 pts:4800 pts_time:0.1\nlavfi.r128.I=-23.500\n"
        "lavfi.r128.LRA=2.500\nlavfi.r128.true_peaks_ch0=0.100\nlavfi.r128.true_peaks_ch1=0.125\n"
    )
    measured = read_report(report)
    assert measured is not None
    assert (measured.integrated_lufs, measured.range_lu) == (-23.5, 2.5)
    assert measured.true_peak_dbtp == pytest.approx(-6.02, abs=0.01)
    assert read_report("") is None


def test_one_gain_when_the_peaks_allow_it_a_limiter_when_they_do_not_silence_left_alone() -> None:
    target = Target(-16, -1.5)
    assert level_filter(Loudness(-35, 1, -32), target) == "volume=19.00dB"
    assert level_filter(Loudness(-8, 1, -0.2), target) == "volume=-8.00dB"
    limited = level_filter(Loudness(-30, 3, -2), target)
    assert limited.startswith("volume=14.00dB,aresample=192000,alimiter=") and limited.endswith("aresample=48000")
    assert level_filter(Loudness(-70, 0, None), target) == ""


# -- with FFmpeg: languages apart, loudness measured and evened out ---------------------------------


def encode(source: Path, work: Path, target: Target | None = None) -> tuple[render.Made, Path]:
    described = render.inspect(source, seconds_left, work)
    plan = plan_ladder(described, loudness_target=target)
    out = work / "hls"
    out.mkdir()
    return render.encode_ladder(source, described, plan, out, seconds_left), out


def test_each_language_plays_its_own_track_and_the_source_loudness_is_on_the_asset(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "film.mkv", Clip(2, 160, 120, container="mkv", audio="languages"))
    made, out = encode(source, tmp_path)
    master = (out / "master.m3u8").read_text()
    assert 'LANGUAGE="en"' in master and 'LANGUAGE="fr"' in master
    heard = [decoded_tone(out / name / "index.m3u8", *HLS) for name in ("audio", "audio2")]
    assert abs(heard[0] - 440) < 15 and abs(heard[1] - 1000) < 30, heard  # zero crossings: a few Hz off
    expected, peak = loudness_of(source)  # FFmpeg's own summary of the English track, the default
    assert made.loudness["integratedLufs"] == pytest.approx(expected, abs=0.3)
    assert made.loudness["truePeakDbtp"] == pytest.approx(peak, abs=0.3)
    assert "normalized" not in made.loudness


@pytest.mark.parametrize(
    ("name", "recipe"),
    [
        ("quiet", Clip(3, 160, 120, audio_gain_db=-16.3)),  # about -35 LUFS
        ("loud", Clip(3, 160, 120, audio_gain_db=17.5)),  # near full scale: about -1 LUFS
        ("quiet-with-clicks", Clip(3, 160, 120, audio_gain_db=-11, clicks=True)),  # peaks 28 dB over it
    ],
)
def test_normalised_audio_comes_within_1_lu_of_the_target_never_over_the_ceiling(
    name: str, recipe: Clip, tmp_path: Path
) -> None:
    target = Target(-16, -1.5)
    source = make_clip(tmp_path / f"{name}.mp4", recipe)
    made, out = encode(source, tmp_path, target)
    heard, peak = loudness_of(out / "120p" / "index.m3u8", *HLS)
    if recipe.clicks:  # the limiter takes away the loudness the clicks carried: under the target, never over
        assert target.integrated_lufs - 3 <= heard <= target.integrated_lufs, (name, heard)
    else:
        assert heard == pytest.approx(target.integrated_lufs, abs=1.0), (name, heard)
    assert peak <= target.true_peak_dbtp, (name, peak)
    before, _ = loudness_of(source)
    figures = made.loudness
    assert figures["integratedLufs"] == pytest.approx(before, abs=0.3)
    assert figures["normalized"]["integratedLufs"] == pytest.approx(heard, abs=0.5)
    assert figures["normalized"]["truePeakDbtp"] <= target.true_peak_dbtp
    assert (figures["normalized"]["targetLufs"], figures["normalized"]["ceilingDbtp"]) == (-16, -1.5)


def test_chunked_video_gets_an_audio_rendition_per_language_measured_and_evened_out(tmp_path: Path) -> None:
    """The chunked path's audio step (the chunks carry video only): each language its own rendition."""
    source = make_clip(tmp_path / "long.mkv", Clip(13, 64, 48, container="mkv", audio="languages"))
    described = render.inspect(source, seconds_left, tmp_path)
    plan = plan_ladder(described, chunk_seconds=6, loudness_target=Target(-16, -1.5))
    assert plan.chunked and [audio.name for audio in plan.audio_renditions] == ["audio", "audio2"]
    out = tmp_path / "hls"
    out.mkdir()
    made = render.audio_rendition(source, described, plan, out, seconds_left)
    heard = [decoded_tone(out / name / "index.m3u8", *HLS) for name in ("audio", "audio2")]
    assert abs(heard[0] - 440) < 15 and abs(heard[1] - 1000) < 30, heard
    for name in ("audio", "audio2"):  # each track evened out on its own
        assert abs(loudness_of(out / name / "index.m3u8", *HLS)[0] - -16) <= 1
    assert made.loudness["normalized"]["integratedLufs"] == pytest.approx(-16, abs=1)
    master = hls.master_playlist(plan)
    assert master.count("#EXT-X-MEDIA:TYPE=AUDIO") == 2 and 'URI="audio2/index.m3u8"' in master
