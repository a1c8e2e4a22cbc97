"""What survives a killed ``reelstack upload``: a small state file per file and API, written
atomically from the first answer on, so the next run finds the upload in the ledger again."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class UploadState:
    """What survives a killed process: enough to find the upload in the ledger again."""

    path: str
    size: int
    mtime_ns: int
    api_url: str
    upload_id: str
    asset_id: str
    part_size: int
    part_count: int
    checksums: bool
    created: float = field(default_factory=time.time)


class StateStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, api_url: str, token_owner: str, path: Path) -> Path:
        stat = path.stat()
        identity = f"{api_url}|{token_owner}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.json"

    def load(self, api_url: str, owner: str, path: Path) -> UploadState | None:
        file = self._file(api_url, owner, path)
        try:
            return UploadState(**json.loads(file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, owner: str, state: UploadState) -> None:
        file = self._file(state.api_url, owner, Path(state.path))
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(state)))
        partial.replace(file)  # atomic: a kill never leaves half a state file

    def forget(self, api_url: str, owner: str, path: Path) -> None:
        self._file(api_url, owner, path).unlink(missing_ok=True)


def default_state_dir() -> Path:
    """``$REELSTACK_STATE_DIR``, else ``$XDG_STATE_HOME/reelstack/uploads`` (``~/.local/state/...``)."""
    if os.environ.get("REELSTACK_STATE_DIR"):
        return Path(os.environ["REELSTACK_STATE_DIR"])
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "reelstack" / "uploads"
