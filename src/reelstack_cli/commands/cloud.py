"""``reelstack local``, ``deploy``, ``outputs`` and ``demo``: the local cloud and the stack on it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelstack_cli.commands.common import (
    emit,
    note_outdated_plugins,
    pairs,
    progress,
    progress_console,
    require_cloud,
)
from reelstack_cli.demo import DEMO_USER, run_demo
from reelstack_cli.deploy import deploy_aws, deploy_local, local_outputs
from reelstack_cli.localcloud import LocalCloud
from reelstack_cli.settings import settings


def cmd_local(args: argparse.Namespace) -> None:
    cloud = LocalCloud(settings())
    if args.action == "start":
        started = time.monotonic()
        with progress_console.status("starting the local cloud (LocalStack, host mode)") as spinner:
            status = cloud.start(on_wait=lambda elapsed: spinner.update(f"starting the local cloud ({elapsed:.0f}s)"))
        elapsed = time.monotonic() - started
        note_outdated_plugins(cloud)
        result = {**status.as_dict(), "startSeconds": round(elapsed, 2)}
        emit(
            args,
            result,
            lambda: print(
                f"local cloud ready at {status.endpoint} in {elapsed:.1f}s "
                f"(LocalStack {status.version}, pid {status.pid})"
            ),
        )
    elif args.action == "stop":
        was_running = cloud.stop(clean=args.clean)
        emit(
            args,
            {"stopped": was_running, "cleaned": args.clean},
            lambda: print("local cloud stopped" if was_running else "local cloud was not running"),
        )
    else:
        status = cloud.status()

        def show() -> None:
            if not status.running:
                print(f"local cloud is not running (endpoint {status.endpoint})")
                return
            print(f"local cloud running at {status.endpoint}, LocalStack {status.version}, pid {status.pid}")
            for name, state in sorted(status.services.items()):
                print(f"  {name:<16} {state}")
            print(f"  log: {status.log_file}")

        emit(args, status.as_dict(), show)
        if not status.running:
            sys.exit(3)


def cmd_deploy(args: argparse.Namespace) -> None:
    started = time.monotonic()
    report = progress(started)
    parameters = pairs(args.parameter, "--parameter")
    if args.target == "aws":
        deploy_aws(args.stack or "reelstack", report, parameters)
        return
    config = settings()
    require_cloud(config)
    note_outdated_plugins(LocalCloud(config))
    if args.stack:
        config = type(config)(config.cloud_dir, config.port, args.stack)
    outputs = deploy_local(config, report, parameters)
    elapsed = time.monotonic() - started
    emit(
        args,
        {"stackName": config.stack_name, "deploySeconds": round(elapsed, 2), "outputs": outputs},
        lambda: [
            print(f"deployed {config.stack_name} in {elapsed:.1f}s"),
            *[print(f"  {key:<18} {value}") for key, value in outputs.items()],
        ],
    )


def cmd_outputs(args: argparse.Namespace) -> None:
    config = settings()
    outputs = local_outputs(config)
    emit(args, outputs, lambda: [print(f"{key:<18} {value}") for key, value in outputs.items()])


def cmd_demo(args: argparse.Namespace) -> None:
    result = run_demo(settings(), progress(time.monotonic()))

    def show() -> None:
        upload, asset = result["upload"], result["asset"]
        print(
            f"uploaded {upload['bytes'] / 2**20:.1f} MiB in {upload['partCount']} parts "
            f"({upload['mibPerSecond']} MiB/s) through presigned URLs"
        )
        print(f"asset {result['assetId']} is {asset['status']} {result['secondsToOutcome']}s after the upload")
        print(f"  pipeline execution: {result['execution']['status']}")
        for step in result["execution"]["steps"]:
            print(f"    {step['state']:<24} {step['outcome']:<10} {step.get('ms', '-')} ms")
        if asset["status"] == "ready":
            media = asset["media"]
            print(f"  source: {media['width']}x{media['height']}, {media['durationSeconds']} s, {media['videoCodec']}")
            for rendition in asset["renditions"]:
                size = f"{rendition['width']}x{rendition['height']}"
                print(f"  rendition {rendition['name']:<6} {size:<9} {rendition['codecs']}")
            print(f"  HLS master: {asset['playback']['hls']}")
            print(f"  poster:     {asset['thumbnails']['poster']}")
        else:
            print(f"  error {asset['error']['code']}: {asset['error']['message']}")
        print(f"web page (signed in as {DEMO_USER}): {result['webPage']}")

    emit(args, result, show)
    if result["status"] != "ready":
        sys.exit(1)


def cmd_speech_model(args: argparse.Namespace) -> None:
    """Upload a Whisper model (the pinned default, or ``--folder``) where a deployment will read it."""
    import boto3

    from reelstack_cli import speech_model

    bucket, _, prefix = args.location.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    folder = Path(args.folder) if args.folder else speech_model.pinned_model()
    sent = speech_model.upload_model(boto3.client("s3"), bucket, prefix, folder)
    digest = speech_model.manifest_of(folder)["files"]["model.bin"]
    print(
        f"{'uploaded' if sent else 'already there:'} s3://{bucket}/{prefix} (deploy with "
        f"--parameter SpeechModelBucket={bucket} --parameter SpeechModelPrefix={prefix} "
        f"--parameter SpeechModelSha256={digest})"
    )


def register(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    local = command(commands, "local", help="the local cloud (LocalStack in host mode, no Docker)")
    local.add_argument("action", choices=["start", "stop", "status"])
    local.add_argument("--clean", action="store_true", help="with stop: also delete the local cloud's state")
    local.set_defaults(run=cmd_local)

    deploy = command(commands, "deploy", help="build and deploy template.yaml")
    deploy.add_argument("--target", choices=["local", "aws"], default="local")
    deploy.add_argument("--stack", help="stack name (default: $REELSTACK_STACK or reelstack-dev)")
    deploy.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="template parameter override (repeatable)"
    )
    deploy.set_defaults(run=cmd_deploy)

    model = command(commands, "speech-model", help="upload the Whisper model for generated captions")
    model.add_argument("action", choices=["upload"])
    model.add_argument(
        "location", help="s3://bucket/prefix/ the deployment's SpeechModelBucket and SpeechModelPrefix name"
    )
    model.add_argument(
        "--folder", help="a CTranslate2 Whisper model's folder (default: the pinned faster-whisper-tiny.en)"
    )
    model.set_defaults(run=cmd_speech_model)

    outputs = command(commands, "outputs", help="the deployed stack's outputs")
    outputs.set_defaults(run=cmd_outputs)
    demo = command(commands, "demo", help="run the deployed pipeline once and show the outcome")
    demo.set_defaults(run=cmd_demo)
