"""Build the speech layer: CTranslate2 and numpy from hash-locked registry wheels, for the Transcribe
function alone (reelstack.derivatives.speech).

Lambda's 250 MB: CTranslate2 is 152 MB unzipped and numpy 53 MB; with the deps layer (39 MB) that is
about 240 MB, so neither FFmpeg (173 MB) nor the model (75.5 MB) fits beside them. The model is fetched
into /tmp at a cold start (SpeechModelBucket/SpeechModelPrefix); the sound comes as PCM, decoded by
the Derive function's FFmpeg. What inference never imports is left out: the test suites of numpy and
CTranslate2's model converters and specs (they import torch).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from reelstack_cli.build_tools import install_locked_requirements

HERE = Path(__file__).parent
NEVER_IMPORTED = ("ctranslate2/converters", "ctranslate2/specs")


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    return [HERE / "build.py", HERE / "requirements.txt"]


def build(target: Path, cache: Path) -> None:
    site = target / "python"
    install_locked_requirements(HERE / "requirements.txt", site)
    for folder in [*(site / name for name in NEVER_IMPORTED), *site.glob("numpy/**/tests")]:
        if folder.is_dir():
            shutil.rmtree(folder)
