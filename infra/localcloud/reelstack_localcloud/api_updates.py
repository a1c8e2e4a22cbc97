"""In-place updates of a REST API and its stage through LocalStack's CloudFormation.

A change of the API's routes or gateway responses changes the OpenAPI body SAM writes into the
``AWS::ApiGateway::RestApi`` and the logical id of the ``AWS::ApiGateway::Deployment`` that snapshots
it, so CloudFormation updates the REST API, creates the new deployment, points the stage at it and
deletes the old deployment. LocalStack 2026.3.0 gets three of those steps wrong:

- its change-set model counts ``Ref: Api`` as changed whenever the REST API is modified (its own
  TODO says the replacement flag should decide), so the stage, whose ``RestApiId`` is create-only,
  is "replaced": created again under its own name, which fails with ``ConflictException: Stage
  already exists``. A Ref is a physical id, which changes only when its resource is replaced;
- ``AWS::ApiGateway::RestApi`` has no update handler, so the new body (the new routes) would never
  be imported and the stack would report success with the old API;
- ``AWS::ApiGateway::Stage`` has none either, so the stage would keep the old deployment, and the
  old deployment's deletion deletes the stages that still use it.

The hook below supplies those three pieces when LocalStack starts.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from localstack.runtime import hooks
from localstack.services.apigateway.resource_providers.aws_apigateway_restapi import ApiGatewayRestApiProvider
from localstack.services.apigateway.resource_providers.aws_apigateway_stage import ApiGatewayStageProvider
from localstack.services.cloudformation.engine.v2.change_set_model import (
    ChangeSetModel,
    ChangeType,
    NodeResource,
    TerminalValue,
    is_nothing,
)
from localstack.services.cloudformation.resource_provider import OperationStatus, ProgressEvent, ResourceRequest
from localstack.utils.patch import Patch

LOG = logging.getLogger(__name__)

# What the import of an OpenAPI body depends on (AWS imports the body again when one of them changes).
BODY_PROPERTIES = ("Body", "BodyS3Location", "Parameters", "Mode", "FailOnWarnings")
# The stage's settings that create() applies: their paths in an UpdateStage patch, and their values
# when the template leaves them out.
STAGE_SETTINGS: dict[str, tuple[str, Any]] = {
    "DeploymentId": ("/deploymentId", None),
    "Description": ("/description", ""),
    "TracingEnabled": ("/tracingEnabled", False),
    "CacheClusterEnabled": ("/cacheClusterEnabled", False),
    "CacheClusterSize": ("/cacheClusterSize", None),
}


def ref_change_type(original: Any, model: ChangeSetModel, arguments: Any) -> ChangeType:
    """``Ref`` to a resource updated in place is unchanged: its physical id stays."""
    change_type = original(model, arguments)
    if change_type != ChangeType.MODIFIED or not isinstance(arguments, TerminalValue):
        return change_type
    name = arguments.value
    if arguments.change_type != ChangeType.UNCHANGED or not isinstance(name, str) or name.startswith("AWS::"):
        return change_type
    if not is_nothing(model._retrieve_condition_if_exists(condition_name=name)):
        return change_type
    if not is_nothing(model._retrieve_parameter_if_exists(parameter_name=name)):
        return change_type
    resource: NodeResource = model._retrieve_or_visit_resource(resource_name=name)
    return change_type if resource.requires_replacement else ChangeType.UNCHANGED


def _openapi_body(model: dict[str, Any], request: ResourceRequest) -> bytes:
    if body := model.get("Body"):
        return (json.dumps(body) if isinstance(body, dict) else str(body)).encode()
    location = model["BodyS3Location"]
    version = {"VersionId": location["Version"]} if location.get("Version") else {}
    found = request.aws_client_factory.s3.get_object(Bucket=location["Bucket"], Key=location["Key"], **version)
    if location.get("ETag") and location["ETag"] != found["ETag"]:
        raise ValueError("The ETag provided for the S3BodyLocation does not match the S3 Object")
    return found["Body"].read()


def update_rest_api(_original: Any, provider: ApiGatewayRestApiProvider, request: ResourceRequest) -> ProgressEvent:
    """Import the changed OpenAPI body into the existing REST API (same id), as AWS does."""
    model, previous = request.desired_state, request.previous_state or {}
    apigateway = request.aws_client_factory.apigateway
    rest_api_id = model["RestApiId"] = previous["RestApiId"]
    model.setdefault("Name", previous.get("Name"))  # create() named it when the template did not
    if any(model.get(key) != previous.get(key) for key in BODY_PROPERTIES) and (
        model.get("Body") or model.get("BodyS3Location")
    ):
        import_parameters = {"basepath": "ignore", **(model.get("Parameters") or {})}  # as create() imports
        options = {"failOnWarnings": model["FailOnWarnings"]} if model.get("FailOnWarnings") else {}
        apigateway.put_rest_api(
            restApiId=rest_api_id,
            body=_openapi_body(model, request),
            mode=model.get("Mode") or "overwrite",
            parameters=import_parameters,
            **options,
        )
    patch = [
        {"op": "replace", "path": f"/{key.lower()}", "value": model.get(key) or ""}
        for key in ("Name", "Description")
        if model.get(key) != previous.get(key)
    ]
    if patch:
        apigateway.update_rest_api(restApiId=rest_api_id, patchOperations=patch)
    ignored = sorted(
        key
        for key in set(model) | set(previous)
        if key not in {*BODY_PROPERTIES, "Name", "Description", "RestApiId", "RootResourceId"}
        and model.get(key) != previous.get(key)
    )
    if ignored:
        LOG.warning("REST API %s: changes of %s are not applied on the local cloud", rest_api_id, ", ".join(ignored))
    resources = apigateway.get_resources(restApiId=rest_api_id, limit=500)["items"]
    model["RootResourceId"] = next(item["id"] for item in resources if item["path"] == "/")
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model, custom_context=request.custom_context)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def update_stage(_original: Any, provider: ApiGatewayStageProvider, request: ResourceRequest) -> ProgressEvent:
    """Point the stage at its new deployment and apply the settings create() applies."""
    model, previous = request.desired_state, request.previous_state or {}
    model["RestApiId"], model["StageName"] = previous["RestApiId"], previous["StageName"]
    patch = [
        {"op": "replace", "path": path, "value": _text(value)}
        for key, (path, default) in STAGE_SETTINGS.items()
        if model.get(key) != previous.get(key) and (value := model.get(key, default)) is not None
    ]
    variables, old_variables = model.get("Variables") or {}, previous.get("Variables") or {}
    patch += [
        {"op": "replace", "path": f"/variables/{name}", "value": value}
        for name, value in variables.items()
        if old_variables.get(name) != value
    ]
    patch += [{"op": "remove", "path": f"/variables/{name}"} for name in old_variables if name not in variables]
    log, old_log = model.get("AccessLogSetting") or {}, previous.get("AccessLogSetting") or {}
    if old_log and not log:
        patch.append({"op": "remove", "path": "/accessLogSettings"})
    elif log != old_log:  # DestinationArn, Format -> /accessLogSettings/destinationArn, .../format
        patch += [
            {"op": "replace", "path": f"/accessLogSettings/{key[0].lower()}{key[1:]}", "value": log[key]} for key in log
        ]
    if patch:
        request.aws_client_factory.apigateway.update_stage(
            restApiId=model["RestApiId"], stageName=model["StageName"], patchOperations=patch
        )
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model, custom_context=request.custom_context)


@hooks.on_infra_start()
def apply_api_update_patches() -> None:
    Patch.function(ChangeSetModel._resolve_intrinsic_function_ref, ref_change_type).apply()
    Patch.function(ApiGatewayRestApiProvider.update, update_rest_api).apply()
    Patch.function(ApiGatewayStageProvider.update, update_stage).apply()
