"""Build the dependencies layer: the domain package ``reelstack`` and its locked third-party packages.

boto3 and its own dependencies are left out on purpose: the python3.13 runtime brings them (on AWS
and in the local cloud's runtime interpreter alike).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from reelstack_cli.build_tools import PROJECT_ROOT, install_locked_requirements

HERE = Path(__file__).parent
DOMAIN_PACKAGE = PROJECT_ROOT / "src" / "reelstack"


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    return [HERE / "build.py", HERE / "requirements.txt", *sorted(DOMAIN_PACKAGE.rglob("*.py"))]


def build(target: Path, cache: Path) -> None:
    site = target / "python"
    install_locked_requirements(HERE / "requirements.txt", site)
    shutil.copytree(DOMAIN_PACKAGE, site / "reelstack", ignore=shutil.ignore_patterns("__pycache__"))
