"""Step Functions task: check the FFmpeg toolchain from the layer and record it on the asset."""

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.toolcheck import check_toolchain

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict[str, str]:
    build = check_toolchain(event.get("assetId"))
    logger.info("FFmpeg toolchain checked", extra={"ffmpeg": build})
    return build
