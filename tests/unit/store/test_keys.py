"""Storage keys: owner and ids only, and they parse back."""

from __future__ import annotations

import pytest

from reelstack.store.keys import SourceKey


@pytest.mark.parametrize("owner", ["alice", "auth0|5f7c8ec7", "Zoë Ünïcode", "../../x", "a/b"])
def test_source_keys_name_owner_and_ids_only_and_parse_back(owner: str) -> None:
    key = SourceKey(owner, "01kbbbbbbbbbbbbbbbbbbbbbbb", "01kaaaaaaaaaaaaaaaaaaaaaaa")
    text = str(key)
    assert text.count("/") == 3
    assert ".." not in text.split("/")
    assert SourceKey.parse(text) == key
