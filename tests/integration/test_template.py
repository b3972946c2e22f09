"""template.yaml: valid for cfn-lint and SAM in both deployment modes, streams where it must, and grants
no more than it should."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_gateway.aws.tables import TABLE_ENV
from llm_gateway.config import load_config, parse_config
from llm_gateway.core.deployments import validate_deployments
from tests.support.cfn_conditions import deployed
from tests.support.lambda_runtime import ENV_JSON, ROOT, TEMPLATE, function_spec, sam_tool, template

pytestmark = pytest.mark.slow

LWA_LAYER = "arn:${AWS::Partition}:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:30"
SERVING_FUNCTIONS = ("GatewayFunction", "ManagedGatewayFunction")
FUNCTIONS = (*SERVING_FUNCTIONS, "BufferedFunction")
NETWORK = {
    "ManagedSubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0a1b2c3d4e5f60719",
    "ManagedSecurityGroupIds": "sg-0a1b2c3d",
}
MODES = {
    "on-demand": {},
    "on-demand-without-snapstart": {"SnapStart": "off"},
    "managed-instances": {"DeploymentMode": "managed-instances", **NETWORK},
}


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)


@cache
def translated() -> dict[str, Any]:
    done = _run([sam_tool("python"), str(ROOT / "tests" / "support" / "sam_translate.py"), str(TEMPLATE)])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@cache
def in_mode(mode: str) -> dict[str, Any]:
    """What CloudFormation would create from SAM's translation with the mode's parameter values."""
    return deployed(translated(), MODES[mode])


def _of_type(mode: str, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in in_mode(mode)["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("mode", MODES)
def test_cfn_lint_passes(mode: str) -> None:
    parameters = [f"{k}={v}" for k, v in MODES[mode].items()]
    done = _run([sam_tool("cfn-lint"), str(TEMPLATE), *(["--parameters", *parameters] if parameters else [])])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("mode", ["on-demand", "managed-instances"])
def test_sam_validate_lint_passes(mode: str, tmp_path: Path) -> None:
    """`sam validate --lint` has no parameter overrides: the template is validated with the mode's
    values as its defaults."""
    text = TEMPLATE.read_text()
    for name, value in MODES[mode].items():
        text, count = re.subn(
            rf"(?m)^(  {name}:\n(?:    .*\n)*?    Default: ).*$", lambda m, v=value: m.group(1) + json.dumps(v), text
        )
        assert count == 1, name
    variant = tmp_path / "template.yaml"
    variant.write_text(text)
    done = _run([sam_tool("sam"), "validate", "--lint", "--template-file", str(variant)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_on_demand_streams_every_route_to_the_published_alias_through_api_gateway() -> None:
    apis = _of_type("on-demand", "AWS::ApiGateway::RestApi")
    assert len(apis) == 1
    api = next(iter(apis.values()))["Properties"]
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
            assert uri.endswith("/2021-11-15/functions/${GatewayFunctionAliaslive}/response-streaming-invocations"), (
                path
            )


@pytest.mark.parametrize("mode", ["on-demand", "on-demand-without-snapstart"])
def test_on_demand_runs_a_published_version_with_snapstart_unless_switched_off(mode: str) -> None:
    resources = in_mode(mode)["Resources"]
    functions = _of_type(mode, "AWS::Lambda::Function")
    assert set(functions) == {"GatewayFunction", "BufferedFunction"}
    assert not _of_type(mode, "AWS::Lambda::CapacityProvider")
    gateway = functions["GatewayFunction"]["Properties"]
    if mode == "on-demand":
        assert gateway["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    else:
        assert "SnapStart" not in gateway
    versions = _of_type(mode, "AWS::Lambda::Version")
    (version_id,) = versions
    assert versions[version_id]["Properties"]["FunctionName"] == {"Ref": "GatewayFunction"}
    (alias,) = _of_type(mode, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert alias["Properties"]["Name"] == "live"
    env = gateway["Environment"]["Variables"]
    assert env["AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"] == "/lwa/snapstart/before"
    assert env["AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"] == "/lwa/snapstart/after"
    assert not _of_type(mode, "AWS::Lambda::Url")
    assert "https://${GatewayApi}.execute-api" in in_mode(mode)["Outputs"]["ApiBaseUrl"]["Value"]["Fn::Sub"]
    assert resources["GatewayApi"]["Type"] == "AWS::ApiGateway::RestApi"


def test_managed_instances_run_the_gateway_on_the_capacity_provider_behind_a_streaming_function_url() -> None:
    mode = "managed-instances"
    functions = _of_type(mode, "AWS::Lambda::Function")
    assert set(functions) == {"ManagedGatewayFunction", "BufferedFunction"}
    assert not _of_type(mode, "AWS::ApiGateway::RestApi")
    (provider_id, provider), *_ = _of_type(mode, "AWS::Lambda::CapacityProvider").items()
    props = provider["Properties"]
    assert props["InstanceRequirements"]["Architectures"] == ["arm64"]
    assert props["InstanceRequirements"]["AllowedInstanceTypes"] == {"Ref": "ManagedInstanceTypes"}
    assert all(
        t.split(".")[0].endswith("g") for t in template()["Parameters"]["ManagedInstanceTypes"]["Default"].split(",")
    )
    assert props["VpcConfig"] == {
        "SubnetIds": {"Ref": "ManagedSubnetIds"},
        "SecurityGroupIds": {"Ref": "ManagedSecurityGroupIds"},
    }
    scaling = props["CapacityProviderScalingConfig"]
    assert scaling["MaxVCpuCount"] == {"Ref": "ManagedMaxVCpuCount"}
    assert scaling["ScalingPolicies"] == [
        {
            "PredefinedMetricType": "LambdaCapacityProviderAverageCPUUtilization",
            "TargetValue": {"Ref": "ManagedTargetCpuUtilization"},
        }
    ]
    function = functions["ManagedGatewayFunction"]["Properties"]
    config = function["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert "${" + provider_id + "}" in config["CapacityProviderArn"]["Fn::Sub"]
    assert config["PerExecutionEnvironmentMaxConcurrency"] == {"Ref": "ManagedConcurrency"}
    assert config["ExecutionEnvironmentMemoryGiBPerVCpu"] == {"Ref": "ManagedMemoryPerVCpu"}
    assert function["FunctionScalingConfig"] == {
        "MinExecutionEnvironments": {"Ref": "ManagedMinEnvironments"},
        "MaxExecutionEnvironments": {"Ref": "ManagedMaxEnvironments"},
    }
    assert function["MemorySize"] == {"Ref": "ManagedMemorySize"}
    assert "SnapStart" not in function
    assert function["Environment"]["Variables"]["LLM_GATEWAY_MEMORY_PER_VCPU"] == {"Ref": "ManagedMemoryPerVCpu"}
    (url,) = _of_type(mode, "AWS::Lambda::Url").values()
    assert url["Properties"]["InvokeMode"] == "RESPONSE_STREAM"
    assert url["Properties"]["AuthType"] == "NONE"  # bearer keys are checked by the gateway itself
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": "ManagedGatewayFunctionAliaslive"}
    assert in_mode(mode)["Outputs"]["ApiBaseUrl"]["Value"] == {"Fn::Sub": "${ManagedGatewayFunctionUrl.FunctionUrl}v1"}


def test_managed_instances_need_a_network_and_say_so() -> None:
    rule = template()["Rules"]["ManagedInstancesNeedANetwork"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DeploymentMode"}, "managed-instances"]}
    assert len(rule["Assertions"]) == 2


@pytest.mark.parametrize("logical_id", SERVING_FUNCTIONS)
def test_streaming_function_runs_uvicorn_under_the_pinned_web_adapter(logical_id: str) -> None:
    spec = function_spec(logical_id)
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
    for logical_id in FUNCTIONS:
        properties = resources[logical_id]["Properties"]
        spec = function_spec(logical_id)
        assert set(properties["Environment"]["Variables"]) == set(spec.environment)
        assert len(properties["Layers"]) == len(spec.properties["Layers"])
        assert properties["Handler"] == spec.handler


def test_functions_are_python313_arm64_zip_with_the_shared_layer() -> None:
    doc = template()
    for logical_id in FUNCTIONS:
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
    for logical_id in FUNCTIONS:
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
    for logical_id in FUNCTIONS:
        assert function_spec(logical_id).properties["Policies"] == [{"Ref": "GatewayAccessPolicy"}]


def test_outputs_give_the_openai_base_url_and_table_names() -> None:
    outputs = template()["Outputs"]
    assert in_mode("on-demand")["Outputs"]["ApiBaseUrl"]["Value"]["Fn::Sub"].endswith("/${Stage}/v1")
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
