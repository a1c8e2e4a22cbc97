"""Upload records: moving one only along states.UPLOAD_TRANSITIONS, with conditional writes.

Each move is one conditional update whose condition is the table's (the states the upload may be in
to make it), narrowed where the protocol knows more: a complete's lease (reelstack.uploads.service).
False means the upload had moved on already (another request got there first).
"""

from __future__ import annotations

from functools import reduce
from typing import Any

from pynamodb.expressions.condition import Condition

from reelstack.store.records import UploadModel, conditional
from reelstack.store.states import UploadStatus, upload_may_become


def move(upload: UploadModel, status: UploadStatus, actions: list[Any], *, when: Condition | None = None) -> bool:
    """Move ``upload`` to ``status`` (with ``actions`` besides) if it is in a state that may, and
    ``when`` holds; False if not."""
    origins = upload_may_become(status)
    if not origins:
        raise ValueError(f"no upload moves to {status}")
    condition = reduce(lambda either, origin: either | (UploadModel.status == origin),
                       origins[1:], UploadModel.status == origins[0])  # fmt: skip
    if when is not None:
        condition = condition & when
    return conditional(
        lambda: upload.update(actions=[UploadModel.status.set(status), *actions], condition=condition),
        "the upload",
    )


def take_for_completion(
    upload: UploadModel, lease: str, parts: list[dict[str, Any]], now: str, plan: tuple[int, int, int] | None = None
) -> bool:
    """``uploading -> completing`` (or a completing whose lease expired: its complete died), holding
    the upload until ``lease``, with the parts it assembles; for an upload whose size the client never
    declared (Companion), with the ``plan`` (size, part size, part count) found in S3."""
    open_or_abandoned = (UploadModel.status == UploadStatus.UPLOADING) | (UploadModel.lease_until < now)
    actions = [UploadModel.lease_until.set(lease), UploadModel.completed_parts.set(parts),
               UploadModel.updated_at.set(now)]  # fmt: skip
    if plan is not None:
        size, part_size, part_count = plan
        actions += [UploadModel.size.set(size), UploadModel.part_size.set(part_size),
                    UploadModel.part_count.set(part_count)]  # fmt: skip
    return move(upload, UploadStatus.COMPLETING, actions, when=open_or_abandoned)


def arrive(upload: UploadModel, size: int, etag: str, version_id: str | None, now: str, purge_at: int) -> bool:
    """``uploading -> completed`` by the object of a single PUT or POST (its arrival is its complete);
    False if the upload was no longer open (aborted, expired, or another object came first)."""
    actions = [UploadModel.size.set(size), UploadModel.part_size.set(size), UploadModel.part_count.set(1),
               UploadModel.completed_parts.set([{"partNumber": 1, "size": size, "etag": etag}]),
               UploadModel.version_id.set(version_id), UploadModel.updated_at.set(now),
               UploadModel.purge_at.set(purge_at)]  # fmt: skip
    return move(upload, UploadStatus.COMPLETED, actions, when=UploadModel.status == UploadStatus.UPLOADING)


def finish_completion(upload: UploadModel, lease: str, version_id: str | None, now: str, purge_at: int) -> bool:
    """``completing -> completed`` by the complete that holds ``lease`` (False: it outlived its lease
    and another complete finished the job)."""
    actions = [UploadModel.version_id.set(version_id), UploadModel.updated_at.set(now),
               UploadModel.purge_at.set(purge_at), UploadModel.lease_until.remove()]  # fmt: skip
    return move(upload, UploadStatus.COMPLETED, actions, when=UploadModel.lease_until == lease)


def end(upload: UploadModel, status: UploadStatus, now: str, purge_at: int) -> bool:
    """An open upload ``aborted`` or ``expired``; False if it was no longer open."""
    return move(upload, status, [UploadModel.updated_at.set(now), UploadModel.purge_at.set(purge_at)])
