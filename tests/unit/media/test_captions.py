"""Caption files read, checked and written as clean WebVTT (reelstack.media.captions), hostile ones included."""

from __future__ import annotations

import threading

import pytest

from reelstack.errors import InvalidCaptions
from reelstack.media import captions
from reelstack.media.captions import read_captions

SRT = """1
00:00:01,000 --> 00:00:02,500
Bonjour, ça va ?

2
00:00:03,000 --> 00:00:04,000
<i>Très</i> bien.
"""


def cue_texts(result: captions.Captions) -> list[str]:
    return [cue.text for cue in result.cues]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (SRT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + SRT.encode("utf-8"), "utf-8"),
        (SRT.encode("utf-16"), "utf-16-le"),  # with its byte-order mark
        (SRT.encode("utf-16-be"), "utf-16-be"),  # without one
        (SRT.encode("utf-16-le"), "utf-16-le"),
        (SRT.encode("latin-1"), "windows-1252"),
        (SRT.replace("bien.", "bien. \u2019").encode("cp1252"), "windows-1252"),  # a curly quote: 0x92
    ],
)
def test_every_encoding_reads_the_same_words(data: bytes, encoding: str) -> None:
    result = read_captions(data)
    assert result.encoding == encoding
    assert result.cues[0].text == "Bonjour, ça va ?"
    assert result.cues[1].text in ("<i>Très</i> bien.", "<i>Très</i> bien. \u2019")


def test_srt_becomes_webvtt() -> None:
    result = read_captions(SRT.encode())
    assert result.source_format == "srt"
    assert result.webvtt() == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nBonjour, ça va ?\n\n"
        "00:00:03.000 --> 00:00:04.000\n<i>Très</i> bien.\n\n"
    )


def test_webvtt_keeps_valid_settings_and_drops_notes_styles_and_identifiers() -> None:
    text = (
        "WEBVTT - a title\n\nSTYLE\n::cue { color: red }\n\nNOTE a note --> with an arrow\n\n"
        "intro\n01:02.5 --> 01:04.000 align:start position:10% line:bogus evil:1 align:end\n<v.loud Ann>Hi</v>\n"
    )
    result = read_captions(text)
    assert result.source_format == "webvtt"
    assert [cue.webvtt() for cue in result.cues] == [
        "00:01:02.500 --> 00:01:04.000 align:start position:10%\n<v.loud Ann>Hi</v>"
    ]


def test_markup_is_limited_to_webvtt_spans_and_script_never_survives() -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\n"
        '<script>alert("x")</script><font color="red">Red</font> <b>bold <i>both</b> open'
        " <img src=x onerror=alert(1)> &lt;script&gt; &amp; {\\an8}<c.yellow.bad!>note</c> <00:00:01.500>late\n"
    )
    [cue] = read_captions(text).cues
    assert cue.text == "Red <b>bold <i>both</i></b> open &lt;script&gt; &amp; <c.yellow>note</c> late"
    assert "alert" not in cue.text and "<script" not in cue.text and "img" not in cue.text


def test_a_line_with_an_arrow_or_a_blank_line_cannot_break_the_file_written() -> None:
    text = "1\n00:00:01,000 --> 00:00:02,000\nthen --> that\n   \n"
    result = read_captions(text)
    assert result.cues[0].text == "then --&gt; that"
    assert read_captions(result.webvtt()).cues == result.cues  # what is written reads back the same
    assert captions.stored_cues(result.webvtt()) == result.cues


def test_cues_are_sorted_duplicates_go_and_overlaps_end_where_the_next_begins() -> None:
    text = (
        "3\n00:00:05,000 --> 00:00:06,000\nthird\n\n"
        "1\n00:00:01,000 --> 00:00:04,000\nfirst runs long\n\n"
        "2\n00:00:03,000 --> 00:00:04,500\nsecond\n\n"
        "2\n00:00:03,000 --> 00:00:04,500\nsecond\n\n"
        "4\n00:00:03,000 --> 00:00:04,500\nsaid together\n"
    )
    result = read_captions(text)
    assert [(cue.start, cue.end, cue.text) for cue in result.cues] == [
        (1.0, 3.0, "first runs long"),
        (3.0, 4.5, "second"),
        (3.0, 4.5, "said together"),
        (5.0, 6.0, "third"),
    ]
    assert result.dropped == {"duplicate": 1}


def test_zero_length_cues_show_until_the_next_at_most_two_seconds() -> None:
    text = "00:00:01.000 --> 00:00:01.000\nzero\n\n00:00:01.500 --> 00:00:01.000\nbackwards\n\n"
    text += "00:00:10.000 --> 00:00:10.000\nalone\n"
    result = read_captions("WEBVTT\n\n" + text)
    assert [(cue.start, cue.end) for cue in result.cues] == [(1.0, 1.5), (1.5, 3.5), (10.0, 12.0)]


def test_times_past_the_end_are_clipped_and_cues_after_it_dropped() -> None:
    text = SRT + "\n3\n00:00:19,000 --> 00:00:25,000\nover the end\n\n4\n10:00:00,000 --> 10:00:01,000\nten hours\n"
    result = read_captions(text, duration_seconds=20)
    assert [(cue.start, cue.end) for cue in result.cues][-1] == (19.0, 20.0)
    assert "ten hours" not in result.webvtt()
    assert result.dropped == {"after the end": 1}


def test_a_file_whose_every_cue_is_after_the_end_says_so() -> None:
    sentence = r"first starts at 10:00:00\.000, after its end at 00:00:20\.000"
    with pytest.raises(InvalidCaptions, match=sentence) as error:
        read_captions("1\n10:00:00,000 --> 10:00:05,000\nlate\n", duration_seconds=20)
    assert error.value.code == "NoCues" and error.value.http_status == 400


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)), "NotCaptions", "binary data"),
        (b"\0\0\0\x18ftypmp42" + bytes(200), "NotCaptions", "binary data"),
        (b"", "NotCaptions", "empty"),
        (b"Dear diary,\nnothing happened today.\n", "NotCaptions", "neither WebVTT nor SubRip"),
        (b"WEBVTT\n\n", "NoCues", "no cue"),
        (b"1\n00:99:00,000 --> 00:99:01,000\nbad minutes\n", "NoCues", "no cue"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n<script>only()</script>\n", "NoCues", "no cue"),
        (b"\xff\xfe" + b"\x00\xd8", "NotCaptions", "UTF-16-LE but is not"),
        (b"x" * (captions.MAX_FILE_BYTES + 1), "CaptionsTooLarge", "at most 2 MiB"),
        (("1\n00:00:01,000 --> 00:00:02,000\n" + "é" * 700_000).encode(), "CaptionsTooLarge", "over 1 MiB"),
    ],
)
def test_what_is_not_captions_gets_a_sentence(data: bytes, code: str, words: str) -> None:
    with pytest.raises(InvalidCaptions, match=words) as error:
        read_captions(data)
    assert error.value.code == code


def test_a_hundred_thousand_cues_are_refused_before_they_are_parsed() -> None:
    many = "WEBVTT\n\n" + "00:00:01.000 --> 00:00:01.500\na\n\n" * 100_000
    with pytest.raises(InvalidCaptions) as error:
        read_captions(many.encode())
    assert error.value.code in ("CaptionsTooLarge", "TooManyCues")
    compact = "WEBVTT\n\n" + "0:01.000 --> 0:01.500\na\n\n" * (captions.MAX_CUES + 1)
    with pytest.raises(InvalidCaptions, match="20,001 cues") as error:
        read_captions(compact)
    assert error.value.code == "TooManyCues"


def test_lone_surrogates_from_json_cannot_reach_the_file_written() -> None:
    [cue] = read_captions("1\n00:00:01,000 --> 00:00:02,000\nbroken \udcff name\n").cues
    assert cue.text == "broken ? name" and read_captions(cue.webvtt()).cues[0].text == "broken ? name"


def test_a_cue_is_at_most_a_thousand_characters() -> None:
    [cue] = read_captions("1\n00:00:01,000 --> 00:00:02,000\n<b>" + "word " * 1000 + "</b>\n").cues
    assert len(cue.text) <= captions.MAX_CUE_CHARACTERS + len("<b></b>")
    assert cue.text.startswith("<b>word") and cue.text.endswith("</b>")


def test_segments_carry_the_cues_they_show_and_the_timestamp_map() -> None:
    result = read_captions(SRT + "\n3\n00:00:05,000 --> 00:00:07,000\nacross\n")
    playlist = captions.subtitle_playlist(13.5)
    assert playlist.count("#EXTINF:6.000,") == 2 and "#EXTINF:1.500,\nsegment_00002.vtt" in playlist
    assert playlist.endswith("#EXT-X-ENDLIST\n")
    first = captions.segment(result.cues, 0, 1.0)
    assert first.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n\n")
    assert "Bonjour" in first and "across" in first
    second = captions.segment(result.cues, 1, 1.0)
    assert "Bonjour" not in second and "00:00:05.000 --> 00:00:07.000\nacross" in second
    assert captions.segment_index("segment_00001.vtt") == 1 and captions.segment_index("../x.vtt") is None


def _read_in_a_thread(data: bytes) -> list[object]:
    """What read_captions gave (its result or the error it raised), or nothing if it was still working
    after a minute: the inputs below take milliseconds unless a pattern reads them quadratically."""
    answer: list[object] = []

    def read() -> None:
        try:
            answer.append(read_captions(data))
        except Exception as error:  # noqa: BLE001 - the test looks at which one
            answer.append(error)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(60)
    return answer


@pytest.mark.parametrize(
    "cue",
    [
        "<a" * 450_000,  # a tag that never closes, started again and again
        "<b.c" * 200_000,
        "{\\" * 450_000,  # an ASS override that never closes
        "x<" * 450_000,
    ],
    ids=["open-tags", "open-classes", "open-overrides", "lone-brackets"],
)
def test_a_megabyte_of_unclosed_markup_is_escaped_at_once_not_read_again_from_every_bracket(cue: str) -> None:
    [result] = _read_in_a_thread(f"1\n00:00:01,000 --> 00:00:02,000\n{cue}\n".encode())
    assert isinstance(result, captions.Captions), result
    [kept] = result.cues
    assert "<a" not in kept.text and len(kept.text) <= 4 * captions.MAX_CUE_CHARACTERS


@pytest.mark.parametrize("hours", ["9" * 6, "9" * 400, "9" * 5000])
def test_an_absurd_number_of_hours_is_no_timing_line_and_gets_a_sentence(hours: str) -> None:
    [error] = _read_in_a_thread(f"1\n{hours}:00:01,000 --> {hours}:00:02,000\nlong ago\n".encode())
    assert isinstance(error, InvalidCaptions) and error.code in ("NoCues", "NotCaptions"), error
