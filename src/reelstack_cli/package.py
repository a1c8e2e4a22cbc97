"""Build the template's functions and layers into zip artifacts, cached by the hash of their inputs.

- A function (``AWS::Serverless::Function``) is its ``CodeUri`` folder, zipped.
- A layer (``AWS::Serverless::LayerVersion``) is built by the recipe in its ``ContentUri`` folder:
  ``build.py`` with ``inputs()`` (the files that decide its content) and ``build(target, cache)``.

Zips are deterministic (sorted entries, fixed timestamps), so unchanged code gives the same hash and
a redeploy uploads nothing. Every function with its layers must stay under Lambda's 250 MB unzipped.
Python in them is compiled for the runtime, as AWS compiles its own runtime's boto3.
"""

from __future__ import annotations

import compileall
import fcntl
import hashlib
import importlib.util
import os
import py_compile
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelstack_cli.build_tools import BuildError
from reelstack_cli.settings import BUILD_DIR, PROJECT_ROOT
from reelstack_cli.template import function_layers, resources_of_type

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
RUNTIME_PYTHON = (3, 13)  # the template's python3.13
# Part of every cache key: a zip built by another Python has no bytecode, and must not be taken for one that has.
BYTECODE_TAG = sys.implementation.cache_tag
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP = {"__pycache__", ".pytest_cache", ".DS_Store"}


@dataclass(frozen=True)
class Artifact:
    logical_id: str
    kind: str  # "function" | "layer"
    zip_path: Path
    sha256: str
    unzipped_bytes: int


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not _SKIP.intersection(path.relative_to(folder).parts) and path.suffix != ".pyc"
    )


def _hash_inputs(paths: list[Path], salt: str) -> str:
    digest = hashlib.sha256(salt.encode())
    for path in paths:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def compile_bytecode(folder: Path) -> None:
    """Give every module in ``folder`` its ``.pyc`` for the runtime's Python.

    A function's code and layers are read-only in Lambda, so a module without one is compiled again
    at every cold start: 1.6 s of the API function's 2.85 s import here. The ``.pyc`` files check
    the source's hash, not its time, because the zip's timestamps are fixed; they name their source
    relative to ``folder`` (not the random staging folder), so a rebuild gives the same bytes.
    """
    if sys.version_info[:2] != RUNTIME_PYTHON:  # another Python's bytecode would never be read
        return
    many = sum(1 for _ in folder.rglob("*.py")) > 50  # a process pool only pays for itself on a layer
    compileall.compile_dir(
        folder,
        quiet=2,  # a package's deliberately broken sample files (test data) stay as they are
        force=True,
        optimize=0,  # plain .pyc, the only kind Lambda's python3.13 reads
        stripdir=str(folder),
        workers=0 if many else 1,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )


def write_zip(folder: Path, target: Path) -> int:
    """Zip all of ``folder`` (a build's staging folder) deterministically; returns the unzipped size in bytes."""
    total = 0
    partial = target.with_suffix(".partial")
    # Level 1: the FFmpeg layers zip in a third of level 6's time and come out 9 % larger (70 MB, not
    # 65 MB), which S3 and Lambda take alike; every fresh clone's first deploy waits for this.
    with zipfile.ZipFile(partial, "w") as archive:
        for path in sorted(path for path in folder.rglob("*") if path.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.compress_level = 1
            info.external_attr = ((0o755 if os.access(path, os.X_OK) else 0o644) | 0o100000) << 16
            with open(path, "rb") as source, archive.open(info, "w") as out:
                shutil.copyfileobj(source, out, length=1024 * 1024)
            total += path.stat().st_size
    partial.rename(target)
    return total


def _cached(logical_id: str, kind: str, key: str, make: Callable[[Path], None]) -> Artifact:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    zip_path = BUILD_DIR / f"{logical_id}-{key}.zip"
    size_path = zip_path.with_suffix(".size")
    if not (zip_path.exists() and size_path.exists()):
        for stale in BUILD_DIR.glob(f"{logical_id}-*"):
            stale.unlink()
        with tempfile.TemporaryDirectory(dir=BUILD_DIR) as staging:
            make(Path(staging))
            compile_bytecode(Path(staging))
            size_path.write_text(str(write_zip(Path(staging), zip_path)))
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    return Artifact(logical_id, kind, zip_path, sha, int(size_path.read_text()))


def _load_recipe(folder: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"layer_recipe_{folder.name}", folder / "build.py")
    if spec is None or spec.loader is None or not (folder / "build.py").exists():
        raise BuildError(f"{folder} has no build.py recipe")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layer_binaries(content_uri: str) -> tuple[str, ...]:
    """The executables a layer's recipe puts in ``bin/`` (its ``BINARIES``; none for a Python layer)."""
    return tuple(getattr(_load_recipe(PROJECT_ROOT / content_uri), "BINARIES", ()))


def build_function(logical_id: str, code_uri: str) -> Artifact:
    folder = PROJECT_ROOT / code_uri
    if not folder.is_dir():
        raise BuildError(f"{logical_id}: CodeUri {code_uri} is not a folder")
    key = _hash_inputs(_files(folder), salt=f"function-v2-{BYTECODE_TAG}")
    return _cached(
        logical_id,
        "function",
        key,
        lambda staging: shutil.copytree(
            folder, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP, "*.pyc")
        ),
    )


def build_layer(logical_id: str, content_uri: str) -> Artifact:
    folder = PROJECT_ROOT / content_uri
    recipe = _load_recipe(folder)
    key = _hash_inputs(recipe.inputs(), salt=f"layer-v2-{BYTECODE_TAG}")
    cache = BUILD_DIR / "downloads"
    return _cached(logical_id, "layer", key, lambda staging: recipe.build(staging, cache))


@contextmanager
def build_folder_held(on_step: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold BUILD_DIR for one deploy, from its build until its zips are uploaded.

    Two deploys at once (two terminals, two test workers) take turns: one must not delete or rewrite
    the zips the other is still building or uploading.
    """
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_step("(waiting: another deploy is using the build folder)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # the lock goes with the file


def build_all(template: dict[str, Any], on_step: Callable[[str], None] = lambda _: None) -> dict[str, Artifact]:
    """Build every function and layer of the template; check Lambda's size limit per function.

    A deploy calls it inside :func:`build_folder_held`, and uploads before letting go.
    """
    artifacts: dict[str, Artifact] = {}
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::LayerVersion").items():
        on_step(f"layer {logical_id}")
        artifacts[logical_id] = build_layer(logical_id, resource["Properties"]["ContentUri"])
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        on_step(f"function {logical_id}")
        artifacts[logical_id] = build_function(logical_id, resource["Properties"]["CodeUri"])
        layers = function_layers(template, logical_id)
        total = artifacts[logical_id].unzipped_bytes + sum(artifacts[name].unzipped_bytes for name in layers)
        if total > LAMBDA_UNZIPPED_LIMIT:
            raise BuildError(
                f"{logical_id} with layers {', '.join(layers)} is {total / 2**20:.0f} MiB unzipped; "
                f"Lambda allows {LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MiB"
            )
    return artifacts
