"""Build the web layer: the page (``web/``) and hls.js from the pinned npm package, as the importable
package ``reelstack_web`` so the API serves them the same way on AWS and in the local cloud; and
``reelstack_draw``, which draws the pipeline's graph for the page (presentation: only the API has it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from reelstack_cli.build_tools import PROJECT_ROOT, BuildError

HERE = Path(__file__).parent
PAGE = PROJECT_ROOT / "web"
HLS_JS = PROJECT_ROOT / "node_modules" / "hls.js" / "dist" / "hls.min.js"
DRAWING_PACKAGE = PROJECT_ROOT / "src" / "reelstack_draw"


def inputs() -> list[Path]:
    """Files whose content decides the layer's content."""
    drawing = sorted(DRAWING_PACKAGE.glob("*.py"))
    return [HERE / "build.py", PROJECT_ROOT / "package-lock.json", *sorted(PAGE.iterdir()), *drawing]


def build(target: Path, cache: Path) -> None:
    if not HLS_JS.exists():
        raise BuildError(f"{HLS_JS} is missing: run `make node_modules/.installed` (npm ci)")
    package = target / "python" / "reelstack_web"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""The web page and its assets (built by layers/web/build.py)."""\n')
    for path in sorted(PAGE.iterdir()):
        shutil.copy2(path, package / path.name)
    shutil.copy2(HLS_JS, package / "hls.min.js")
    shutil.copytree(DRAWING_PACKAGE, target / "python" / "reelstack_draw", ignore=shutil.ignore_patterns("__pycache__"))
