"""AWS SDK sessions for the local cloud (through localstack-client) and for AWS."""

from __future__ import annotations

from localstack_client.session import Session as LocalSession

from reelstack_cli.settings import LOCAL_ACCESS_KEY, REGION, Settings


def local_session(settings: Settings) -> LocalSession:
    """A boto3-like session whose clients all talk to the local cloud's one port."""
    return LocalSession(
        aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_ACCESS_KEY,
        region_name=REGION,
        localstack_host=f"127.0.0.1:{settings.port}",
    )


def subscribe_queue(session: LocalSession, topic_arn: str, queue_name: str) -> str:
    """A new SQS queue that receives the topic's events (raw bodies); returns its URL."""
    sqs = session.client("sqs")
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    session.client("sns").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return url
