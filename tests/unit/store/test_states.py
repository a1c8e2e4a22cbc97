"""The asset's life cycle: one table of transitions, and every status change goes through it."""

from __future__ import annotations

import re

import pytest

from reelstack.store import assets
from reelstack.store.records import AssetModel
from reelstack.store.states import ASSET_TRANSITIONS, AssetStatus, may_become
from reelstack_cli.settings import CHECKOUT

SOURCE = CHECKOUT / "src" / "reelstack"


def test_the_table_names_every_state_and_deleted_is_final() -> None:
    assert set(ASSET_TRANSITIONS) == set(AssetStatus)
    assert ASSET_TRANSITIONS[AssetStatus.DELETED] == frozenset()
    assert all(AssetStatus.UPLOADING not in targets for targets in ASSET_TRANSITIONS.values())  # never back
    assert ASSET_TRANSITIONS[AssetStatus.READY] == {AssetStatus.DELETED}  # a playing video only goes away
    assert set(may_become(AssetStatus.DELETED)) == set(AssetStatus) - {AssetStatus.DELETED}


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("origin", list(AssetStatus))
@pytest.mark.parametrize("target", list(AssetStatus))
def test_a_move_happens_exactly_when_the_table_allows_it(origin: AssetStatus, target: AssetStatus) -> None:
    AssetModel("01kbbbbbbbbbbbbbbbbbbbbbbb", owner_id="alice", status=origin).save()
    moved = assets.move("01kbbbbbbbbbbbbbbbbbbbbbbb", target)
    assert moved == (target in ASSET_TRANSITIONS[origin])
    assert AssetModel.get("01kbbbbbbbbbbbbbbbbbbbbbbb").status == (target if moved else origin)


def test_no_code_sets_an_assets_status_but_the_move() -> None:
    """Every status change goes through store.assets.move, and only a failed condition reads as
    "already moved" (store.records.conditional)."""
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        if path.name != "assets.py":
            assert "AssetModel.status.set(" not in text, path
        if path.name != "records.py":
            assert not re.search(r"except[^\n]*\b(UpdateError|DeleteError)\b", text), path


@pytest.mark.usefixtures("aws")
def test_a_caller_may_narrow_a_move_but_never_widen_it() -> None:
    AssetModel("01kbbbbbbbbbbbbbbbbbbbbbbb", owner_id="alice", status=AssetStatus.READY).save()
    # An upload's end (abort, expiry) only ever moves an asset that is still uploading.
    assert assets.move("01kbbbbbbbbbbbbbbbbbbbbbbb", AssetStatus.DELETED, only_from=(AssetStatus.UPLOADING,)) is False
    assert AssetModel.get("01kbbbbbbbbbbbbbbbbbbbbbbb").status == AssetStatus.READY
    with pytest.raises(ValueError, match="no asset moves"):
        assets.move("01kbbbbbbbbbbbbbbbbbbbbbbb", AssetStatus.PROCESSING, only_from=(AssetStatus.READY,))
