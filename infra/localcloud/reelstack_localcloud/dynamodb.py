"""DynamoDB served entirely by moto (selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto``)."""

from localstack.aws.api.dynamodb import DynamodbApi
from localstack.services.plugins import Service, aws_provider


class MotoDynamoDBProvider(DynamodbApi):
    """Implements no operation itself: the moto fallback dispatcher forwards every call to moto."""

    service = "dynamodb"


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    return Service.for_provider(MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher)
