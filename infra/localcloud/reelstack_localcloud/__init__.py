"""LocalStack plugins for Reelstack's local cloud (installed into LocalStack's own virtualenv).

- ``dynamodb:moto``: DynamoDB served by moto, because the default provider downloads Java and
  DynamoDB Local at run time, which cannot work offline.
- ``local-process``: a Lambda runtime executor that runs each execution environment as a local
  process instead of a Docker container.
- ``apply_api_update_patches`` (a start hook): CloudFormation updates a REST API and its stage in place,
  so a redeploy that changes the API's routes or gateway responses works on an existing local cloud.
- ``name_lambda_sdk_failures_as_aws_does`` (a start hook): a call from Step Functions to Lambda that
  got no answer (a closed connection) fails as ``Lambda.SdkClientException``, which the state machine
  retries, as on AWS, instead of LocalStack's bare ``Exception``.
- ``send_responses_at_the_clients_pace`` (a start hook): a response body goes out as fast as the
  client reads it, as S3 does, instead of being read whole into memory (``streaming.py``).
"""
