"""template.yaml: valid for cfn-lint and SAM, streams where it must, and grants no more than it should."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from typing import Any

import pytest
import yaml

from llm_gateway.aws.tables import TABLE_ENV
from llm_gateway.config import load_config, parse_config
from llm_gateway.core.deployments import validate_deployments
from tests.support.lambda_runtime import ENV_JSON, ROOT, TEMPLATE, function_spec, sam_tool, template

pytestmark = pytest.mark.slow

LWA_LAYER = "arn:${AWS::Partition}:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:27"


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)


@cache
def translated() -> dict[str, Any]:
    done = _run([sam_tool("python"), str(ROOT / "tests" / "support" / "sam_translate.py"), str(TEMPLATE)])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_cfn_lint_passes() -> None:
    done = _run([sam_tool("cfn-lint"), str(TEMPLATE)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_sam_validate_lint_passes() -> None:
    done = _run([sam_tool("sam"), "validate", "--lint", "--template-file", str(TEMPLATE)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_every_route_streams_through_invoke_with_response_stream() -> None:
    resources = translated()["Resources"]
    apis = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(apis) == 1
    api = apis[0]["Properties"]
    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    paths = api["Body"]["paths"]
    assert set(paths) == {"/v1/{proxy+}", "/health"}
    for path, methods in paths.items():
        for method in methods.values():
            integration = method["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy", path
            assert integration["responseTransferMode"] == "STREAM", path
            assert integration["timeoutInMillis"] == 900000, path
            uri = integration["uri"]["Fn::Sub"]
            assert uri.endswith("/2021-11-15/functions/${GatewayFunction.Arn}/response-streaming-invocations"), path


def test_streaming_function_runs_uvicorn_under_the_pinned_web_adapter() -> None:
    spec = function_spec("GatewayFunction")
    assert spec.handler == "run.sh"
    assert (spec.code_dir / "run.sh").stat().st_mode & 0o111, "run.sh must be executable"
    assert {"Fn::Sub": LWA_LAYER} in spec.properties["Layers"]
    assert spec.environment["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert spec.environment["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert spec.environment["AWS_LWA_READINESS_CHECK_PATH"] == "/health"
    run_sh = (spec.code_dir / "run.sh").read_text()
    assert "uvicorn" in run_sh and "gateway:app" in run_sh and "/opt/python" in run_sh


def test_buffered_function_is_the_mangum_handler_without_the_adapter() -> None:
    spec = function_spec("BufferedFunction")
    assert spec.handler == "gateway.handler"
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in spec.environment
    assert not any("LambdaAdapterLayer" in json.dumps(layer) for layer in spec.properties["Layers"])


def test_sam_applies_globals_the_way_the_tests_read_them() -> None:
    """function_spec() merges Globals like SAM does: checked against the translator's own output."""
    resources = translated()["Resources"]
    for logical_id in ("GatewayFunction", "BufferedFunction"):
        deployed = resources[logical_id]["Properties"]
        spec = function_spec(logical_id)
        assert set(deployed["Environment"]["Variables"]) == set(spec.environment)
        assert len(deployed["Layers"]) == len(spec.properties["Layers"])
        assert deployed["Handler"] == spec.handler


def test_functions_are_python313_arm64_zip_with_the_shared_layer() -> None:
    doc = template()
    for logical_id in ("GatewayFunction", "BufferedFunction"):
        spec = function_spec(logical_id, doc)
        assert spec.properties["Runtime"] == "python3.13"
        assert spec.properties["Architectures"] == ["arm64"]
        assert spec.properties.get("PackageType", "Zip") == "Zip"
        assert {"Ref": "SharedLayer"} in spec.properties["Layers"]
        assert spec.code_dir == ROOT / "handlers"
    layer = doc["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


def test_functions_get_the_table_names_and_secret_references_not_secrets() -> None:
    for logical_id in ("GatewayFunction", "BufferedFunction"):
        env = function_spec(logical_id).environment
        for table, variable in TABLE_ENV.items():
            assert env[variable] == {"Ref": table}
        assert "LLM_GATEWAY_MASTER_KEY" not in env, "the master key must come from SSM / Secrets Manager"
        reference = json.dumps(env["LLM_GATEWAY_MASTER_KEY_REF"])
        assert "ssm:/llm-gateway/${Stage}/master-key" in reference


def test_tables_keep_their_shared_shape() -> None:
    resources = template()["Resources"]
    tables = {k: v for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == set(TABLE_ENV)
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert props["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
    for logical_id in ("KeysTable", "UsageTable"):  # data that must not be lost
        assert tables[logical_id]["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert tables[logical_id]["DeletionPolicy"] == "Retain"


def _statements() -> dict[str, dict[str, Any]]:
    policy = template()["Resources"]["GatewayAccessPolicy"]["Properties"]["PolicyDocument"]
    statements: dict[str, dict[str, Any]] = {}
    for entry in policy["Statement"]:
        statement = entry
        if "Fn::If" in entry:
            condition, conditional, otherwise = entry["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
            statement = {**conditional, "_condition": condition}
        statements[statement["Sid"]] = statement
    return statements


def test_policy_is_least_privilege() -> None:
    statements = _statements()
    assert set(statements) == {
        "GatewayTables",
        "GatewayParameters",
        "GatewaySecrets",
        "GatewaySecretsKey",
        "BedrockModels",
        "BedrockGuardrails",
    }
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), actions
        assert statement["Resource"] != "*"
    tables = statements["GatewayTables"]
    assert "dynamodb:Scan" not in tables["Action"]
    for resource in tables["Resource"]:
        text = json.dumps(resource)
        assert any(table in text for table in TABLE_ENV), resource
    for resource in statements["GatewayParameters"]["Resource"]:
        assert ":parameter/llm-gateway/${Stage}" in resource["Fn::Sub"]
    assert statements["GatewaySecrets"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["GatewaySecrets"]["Resource"]["Fn::Sub"].endswith(":secret:llm-gateway/${Stage}/*")
    bedrock = statements["BedrockModels"]
    assert bedrock["_condition"] == "HasBedrockModels"
    assert bedrock["Resource"] == {"Ref": "BedrockModelArns"}
    assert set(bedrock["Action"]) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    guardrails = statements["BedrockGuardrails"]
    assert guardrails["_condition"] == "HasBedrockGuardrails"
    assert guardrails == {**guardrails, "Action": "bedrock:ApplyGuardrail", "Resource": {"Ref": "BedrockGuardrailArns"}}
    assert statements["GatewaySecretsKey"]["_condition"] == "HasKmsKey"
    for logical_id in ("GatewayFunction", "BufferedFunction"):
        assert function_spec(logical_id).properties["Policies"] == [{"Ref": "GatewayAccessPolicy"}]


def test_outputs_give_the_openai_base_url_and_table_names() -> None:
    outputs = template()["Outputs"]
    assert outputs["ApiBaseUrl"]["Value"]["Fn::Sub"].endswith("/${Stage}/v1")
    for table in TABLE_ENV:
        assert outputs[f"{table}Name"]["Value"] == {"Ref": table}


def test_bundled_config_is_valid_and_reads_secrets_only_where_the_policy_allows() -> None:
    config = load_config(ROOT / "handlers" / "config.yaml")
    assert validate_deployments(config.models) == []
    for deployment in config.models:
        if deployment.api_key:
            assert deployment.api_key.startswith(("ssm:/llm-gateway/prod/", "secretsmanager:llm-gateway/prod/"))


def test_bundled_config_examples_are_valid_when_uncommented() -> None:
    text = (ROOT / "handlers" / "config.yaml").read_text()
    uncommented = re.sub(r"(?m)^  # (- |  )", r"  \1", text)
    assert uncommented != text
    config = parse_config(yaml.safe_load(uncommented))
    assert validate_deployments(config.models) == []
    assert {"claude-sonnet", "gemini-flash", "claude-bedrock"} <= set(config.group_names())


@pytest.mark.parametrize("logical_id", ["GatewayFunction", "BufferedFunction"])
def test_env_json_only_sets_variables_the_template_declares(logical_id: str) -> None:
    """`sam local invoke --env-vars` silently ignores variables the template does not declare."""
    local = json.loads(ENV_JSON.read_text())[logical_id]
    assert set(local) <= set(function_spec(logical_id).environment)
