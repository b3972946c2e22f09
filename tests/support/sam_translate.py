"""Translate template.yaml with the SAM translator that aws-sam-cli bundles (run with .venv-sam's python).

    .venv-sam/bin/python tests/support/sam_translate.py template.yaml  > translated.json

Local code URIs become S3 placeholders (as `sam package` would make them); no AWS call is made.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from samtranslator.translator.transform import transform  # type: ignore[import-not-found]
from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-not-found]


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml_parse(handle.read())
    function_globals = document.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = "s3://bucket/code.zip"
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://bucket/{key}.zip"
    translated = transform(document, {}, _NoManagedPolicies())
    json.dump(translated, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
