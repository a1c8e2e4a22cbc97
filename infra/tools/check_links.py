"""Relative links in README.md resolve: the file exists and, for ``file.md#anchor``, the heading does.

The pages under docs/ are checked by ``mkdocs build --strict`` (make docs); the README is not part of
the site, so this covers it. Run by ``make lint``; exits 1 with one line per broken link.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
ROOT = Path(__file__).resolve().parents[2]


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc (mkdocs) and GitHub give a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r"\s", "-", text)


def anchors(page: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in page.read_text().splitlines() if line.startswith("#")}


def broken(markdown: Path) -> list[str]:
    found = []
    for target in LINK.findall(markdown.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto: ... are not checked (no network here)
            continue
        path, _, anchor = target.partition("#")
        resolved = (markdown.parent / path).resolve() if path else markdown
        if not resolved.exists():
            found.append(f"{markdown.relative_to(ROOT)}: {target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            found.append(f"{markdown.relative_to(ROOT)}: {target}: no such heading")
    return found


if __name__ == "__main__":
    problems = [problem for name in sys.argv[1:] or ["README.md"] for problem in broken(ROOT / name)]
    print("\n".join(problems) or "links: all resolve")
    sys.exit(1 if problems else 0)
