"""Loudness (EBU R128): measured on every source, evened out on request. The one place that says how.

Measuring is FFmpeg's ``ebur128`` filter (integrated loudness, loudness range, true peak at 4x the
sample rate) on what the encoder gets, the stereo 48 kHz mix, in the encode itself: a side output of
the same FFmpeg process decodes the audio once more and writes each 100 ms's figures to a file (the
filter prints its summary only at a log level the pipeline does not read). The last figures are the
whole program's.

Evening out (``normalizeAudio``) takes two passes: the first measures (audio alone, before the
encode), the second applies one gain that brings the integrated loudness to the target, the same gain
from start to end (the mix is not compressed). Where that gain would lift a peak over the ceiling, a
limiter at 4x the sample rate (where true peaks show) holds the peaks under it: never louder than the
ceiling. A silent track is left as it is (lifting it would only make its noise heard).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 48000  # what every audio rendition carries
STEREO_48K = f"aformat=sample_rates={SAMPLE_RATE}:channel_layouts=stereo"  # the mix the encoder gets
SILENT_BELOW_LUFS = -60.0  # quieter than this is silence with noise: normalising leaves it alone
OVERSAMPLING = 4  # true peaks are found between samples: the limiter works at 4x the rate
# The limiter aims this far under the ceiling: AAC's encoding and the resampling after the limiter
# move peaks by a few tenths of a dB.
LIMITER_MARGIN_DB = 0.5
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
_FIGURE = re.compile(r"^lavfi\.r128\.(I|LRA|true_peaks_ch\d+)=(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    range_lu: float
    true_peak_dbtp: float | None  # None: no peak at all (digital silence)

    def view(self) -> dict[str, Any]:
        """The contract's figures (``media.loudness``), to a tenth."""
        peak = None if self.true_peak_dbtp is None else round(self.true_peak_dbtp, 1)
        return {"integratedLufs": round(self.integrated_lufs, 1), "rangeLu": round(self.range_lu, 1),
                "truePeakDbtp": peak}  # fmt: skip

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> Loudness:
        return cls(float(view["integratedLufs"]), float(view["rangeLu"]),
                   None if view.get("truePeakDbtp") is None else float(view["truePeakDbtp"]))  # fmt: skip


@dataclass(frozen=True)
class Target:
    """What ``normalizeAudio`` evens audio out to (template parameters LoudnessTarget, TruePeakCeiling)."""

    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.5


def measure_filter(report: Path) -> str:
    """The filters that measure the stereo mix and write their figures to ``report`` (see
    :func:`read_report`); they end the chain, which goes to a ``null`` output."""
    if not _SAFE_PATH.match(str(report)):
        raise ValueError(f"a loudness report needs a plain path, not {report}")  # the work folder's own names
    return f"ebur128=peak=true:metadata=1,ametadata=mode=print:file={report}"


def read_report(text: str) -> Loudness | None:
    """The figures :func:`measure_filter` wrote: the last integrated loudness and range (they cover
    everything before them), the highest true peak of any channel; None if nothing was measured."""
    integrated = loudness_range = None
    peak = 0.0
    for key, value in _FIGURE.findall(text):
        number = float(value)
        if key == "I":
            integrated = number
        elif key == "LRA":
            loudness_range = number
        elif math.isfinite(number):
            peak = max(peak, number)
    if integrated is None or not math.isfinite(integrated):
        return None
    return Loudness(integrated, loudness_range or 0.0, 20 * math.log10(peak) if peak > 0 else None)


def level_filter(measured: Loudness, target: Target) -> str:
    """The second pass's filters for a track ``measured`` by the first: one gain to the target, and a
    limiter only where that gain would lift a true peak over the ceiling; "" leaves the track as is."""
    if measured.integrated_lufs < SILENT_BELOW_LUFS:
        return ""
    gain = target.integrated_lufs - measured.integrated_lufs
    volume = f"volume={gain:.2f}dB"
    if measured.true_peak_dbtp is None or measured.true_peak_dbtp + gain <= target.true_peak_dbtp - LIMITER_MARGIN_DB:
        return volume
    limit = 10 ** ((target.true_peak_dbtp - LIMITER_MARGIN_DB) / 20)
    return (
        f"{volume},aresample={SAMPLE_RATE * OVERSAMPLING},"
        f"alimiter=limit={limit:.4f}:level=disabled:latency=enabled,aresample={SAMPLE_RATE}"
    )


@dataclass(frozen=True)
class TrackLevel:
    """What an encode does to one kept track's level, and where it writes the figures of what comes out."""

    stream: int  # the source's stream index
    filters: str  # level_filter's, "" to keep the level
    report: Path

    def chain(self) -> str:
        """The track's audio filters up to the encoder (the stereo mix, then the level)."""
        return ",".join(part for part in (STEREO_48K, self.filters) if part)

    def measuring(self) -> str:
        return f"{self.chain()},{measure_filter(self.report)}"
