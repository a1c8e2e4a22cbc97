"""The local cloud's plugins that spare it work LocalStack repeats (reelstack_localcloud): each runs in
LocalStack's own Python, and what it changes must read, write and fail exactly as before."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import urllib3

from reelstack_cli.settings import LOCALSTACK_PYTHON
from tests.integration.conftest import Stack

APPLY_HOOKS = """
from importlib.metadata import entry_points

RESULTS, applied = {}, []


def apply_hooks():
    if not applied:  # once per process, as LocalStack runs them
        for hook in entry_points(group="localstack.hooks.on_infra_start"):
            if hook.value.startswith("reelstack_localcloud."):
                hook.load()()
        applied.append(True)
"""


@pytest.fixture(scope="module")
def found() -> dict[str, Any]:
    """The scripts below run in one LocalStack Python (importing LocalStack costs seconds of CPU), in
    order, each keeping what it found in ``RESULTS``."""
    script = "\n".join([APPLY_HOOKS, _PATHS_TWICE, _DEFINITION_TWICE, _TRANSACTIONS,
                        "import json\nprint(json.dumps(RESULTS))"])  # fmt: skip
    result = subprocess.run([str(LOCALSTACK_PYTHON), "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


_PATHS_TWICE = """
import json
from localstack.services.stepfunctions.asl.component.common.path import result_path
from localstack.services.stepfunctions.asl.utils import json_path

state = {"plan": {"derivatives": {"fromSource": ["thumbnails", "previews"]}}, "media": [{"seconds": 4.5}]}
paths = ["$.plan.derivatives.fromSource", "$.media[0].seconds", "$.plan.derivatives.fromSource[1]"]
before = [json_path.extract_json(path, state) for path in paths]
apply_hooks()
after = [[json_path.extract_json(path, state) for path in paths] for _ in range(50)]
# ResultPath writes into each state's own input, whatever it wrote into the last one.
written = [result_path.parse("$.error").update_or_create({"n": n}, {"Error": f"E{n}"}) for n in (1, 2)]
RESULTS["paths"] = {"before": before, "same": all(a == before for a in after),
                    "kept": json_path.parse(paths[0]) is json_path.parse(paths[0]), "written": written}
"""


def test_step_functions_parses_each_json_path_once_and_reads_the_same(found: dict[str, Any]) -> None:
    """LocalStack parsed a path anew at every evaluation (a new LALR parser each time: 12-36 ms of CPU
    per ``.$``, the local cloud's largest cost while pipelines ran); parsed once, every read and
    ResultPath write is what it was."""
    found = found["paths"]
    assert found["before"] == [["thumbnails", "previews"], 4.5, "previews"]
    assert found["same"] and found["kept"], found
    assert found["written"] == [{"n": 1, "error": {"Error": "E1"}}, {"n": 2, "error": {"Error": "E2"}}]


_DEFINITION_TWICE = """
import json
from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

apply_hooks()
definition = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})
(first, first_tree), (second, second_tree) = (AmazonStateLanguageParser.parse(definition) for _ in range(2))
refused = 0
for _ in range(2):  # a definition with a syntax error is refused every time, not once
    try:
        AmazonStateLanguageParser.parse('{"StartAt": "Wait", "States": {"Wait": {"Type": "Nope"}}}')
    except ASLParserException:
        refused += 1
RESULTS["definitions"] = {"ownPrograms": first is not second, "treeKept": first_tree is second_tree,
                          "sameKind": type(first).__name__ == type(second).__name__, "refused": refused}
"""


def test_step_functions_reads_a_definition_once_and_gives_each_execution_its_own_states(found: dict[str, Any]) -> None:
    assert found["definitions"] == {"ownPrograms": True, "sameKind": True, "treeKept": True, "refused": 2}


_TRANSACTIONS = """
import copy, json, os
import boto3
from moto import mock_aws

os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
apply_hooks()
copies = []  # the type of each value deep-copied into a new object
deepcopy = copy.deepcopy


def counted(value, memo=None):
    made = deepcopy(value, memo)
    if made is not value:
        copies.append(type(value).__name__)
    return made


copy.deepcopy = counted
with mock_aws():
    db = boto3.client("dynamodb")
    db.create_table(TableName="assets", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    db.create_table(TableName="outbox", KeySchema=[{"AttributeName": "owner", "KeyType": "HASH"},
                                                   {"AttributeName": "at", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "owner", "AttributeType": "S"},
                                          {"AttributeName": "at", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    for n in range(50):
        db.put_item(TableName="assets", Item={"id": {"S": f"a{n}"}, "status": {"S": "uploaded"}})
    db.put_item(TableName="outbox", Item={"owner": {"S": "alice"}, "at": {"S": "t0"}, "type": {"S": "old"}})

    def rows():
        return [sorted(db.scan(TableName=name, ConsistentRead=True)["Items"], key=str) for name in ("assets", "outbox")]

    def move(asset, to, only_from):
        return {"Update": {"TableName": "assets", "Key": {"id": {"S": asset}}, "UpdateExpression": "SET #s = :to",
                           "ConditionExpression": "#s = :from", "ExpressionAttributeNames": {"#s": "status"},
                           "ExpressionAttributeValues": {":to": {"S": to}, ":from": {"S": only_from}}}}

    def outbox(at, kind):
        return {"Put": {"TableName": "outbox", "Item": {"owner": {"S": "alice"}, "at": {"S": at}, "type": {"S": kind}}}}

    announce, replace = outbox("t1", "x"), outbox("t0", "new")
    new_asset = {"Put": {"TableName": "assets", "Item": {"id": {"S": "new"}, "status": {"S": "uploading"}}}}
    gone = {"Delete": {"TableName": "assets", "Key": {"id": {"S": "a7"}}}}
    before = rows()
    copies.clear()
    reasons = []
    try:  # every write before the last condition is made, then the condition fails: all are undone
        db.transact_write_items(TransactItems=[move("a1", "processing", "uploaded"), announce, replace, new_asset,
                                               gone, move("a2", "processing", "ready")])
    except db.exceptions.TransactionCanceledException as error:
        reasons = [reason["Code"] for reason in error.response["CancellationReasons"]]
    undone = rows() == before
    db.transact_write_items(TransactItems=[move("a1", "processing", "uploaded"), announce])
    a1 = db.get_item(TableName="assets", Key={"id": {"S": "a1"}})["Item"]["status"]["S"]
    outbox = [item["at"]["S"] for item in rows()[1]]
copy.deepcopy = deepcopy
RESULTS["transactions"] = {"reasons": reasons, "undone": undone, "a1": a1, "outbox": outbox,
                           "tablesCopied": copies.count("Table")}
"""


def test_a_cancelled_dynamodb_transaction_undoes_every_write_without_copying_the_tables(found: dict[str, Any]) -> None:
    """moto backs up each table a transaction names by copying all of it (a cost that grew with every
    asset of a test run); the local cloud keeps only the items the transaction touches, and a
    cancelled transaction still leaves every one as it was: updated, put, new and deleted alike."""
    found = found["transactions"]
    assert found["reasons"] == ["None", "None", "None", "None", "None", "ConditionalCheckFailed"], found
    assert found["undone"], found
    assert (found["a1"], found["outbox"]) == ("processing", ["t0", "t1"])  # one that holds is written whole
    assert found["tablesCopied"] == 0, found


# -- responses at the client's pace (streaming.py) ----------------------------------------------------

PACED_OBJECT_BYTES = 128 * 1024 * 1024


def _bytes_read_by(pid: int) -> int:
    """What a process has read so far (``rchar``: from files and sockets alike)."""
    return int(Path(f"/proc/{pid}/io").read_text().split("rchar: ")[1].split()[0])


def test_the_local_cloud_reads_an_object_only_as_fast_as_its_reader_takes_it(stack: Stack, tmp_path: Path) -> None:
    """FFmpeg reads a presigned source with open-ended ranges (``bytes=X-``) and closes the connection
    when it has what it wanted. Twisted's WSGI bridge had LocalStack read the rest of the object into
    memory meanwhile (1.1 s of CPU for the first 12 MB of a 1.2 GB source); now a response goes out as
    its reader takes it, as from S3: reading 1 MB of a 128 MB object costs LocalStack a few MB of reads
    (kernel and Twisted buffers), not 128."""
    s3, bucket, key = stack.client("s3"), stack.outputs["mediaBucket"], f"tests/paced-{uuid.uuid4().hex}.bin"
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(PACED_OBJECT_BYTES)
    s3.upload_file(str(big), bucket, key)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    localstack = int((stack.settings.cloud_dir / "localstack.pid").read_text())
    read = []
    try:
        for _ in range(3):  # the least of three: the local cloud may be reading for something else meanwhile
            before = _bytes_read_by(localstack)
            response = urllib3.request("GET", url, headers={"Range": "bytes=0-"}, preload_content=False)
            assert response.status == 206 and len(response.read(1024 * 1024)) == 1024 * 1024
            time.sleep(0.5)  # what an unpaced writer would have read meanwhile
            response.release_conn()
            response.close()
            time.sleep(0.5)
            read.append(_bytes_read_by(localstack) - before)
        whole = urllib3.request("GET", url, headers={"Range": "bytes=0-"})
        assert whole.status == 206 and len(whole.data) == PACED_OBJECT_BYTES  # a reader that takes all gets all
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    assert min(read) < PACED_OBJECT_BYTES / 4, read
