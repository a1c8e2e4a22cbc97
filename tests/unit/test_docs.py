"""The README stays a front page, and its links lead somewhere (the site's own are mkdocs --strict's)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reelstack_cli.settings import CHECKOUT

_spec = importlib.util.spec_from_file_location("check_links", CHECKOUT / "infra" / "tools" / "check_links.py")
check_links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_links)


def test_the_readme_is_read_in_five_minutes_and_every_link_resolves() -> None:
    assert len((CHECKOUT / "README.md").read_text().splitlines()) <= 250
    assert check_links.broken(CHECKOUT / "README.md") == []


def test_a_link_to_a_missing_page_or_heading_is_found(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(check_links, "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Playable in seconds\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/page.md#playable-in-seconds) [gone](docs/nope.md) [no heading](docs/page.md#nope) "
        "[web](https://example.com/x)\n"
    )
    assert check_links.broken(readme) == [
        "README.md: docs/nope.md: no such file",
        "README.md: docs/page.md#nope: no such heading",
    ]
