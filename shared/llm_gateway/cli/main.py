"""``python -m llm_gateway.cli``: manage virtual keys and read spend, against DynamoDB (AWS or local).

Tables: ``--keys-table`` / ``--usage-table``, else ``LLM_GATEWAY_KEYS_TABLE`` / ``LLM_GATEWAY_USAGE_TABLE``.
Endpoint: ``--endpoint-url``, else ``AWS_ENDPOINT_URL_DYNAMODB`` (a local DynamoDB), else AWS with the
usual credentials chain. A new key is printed once; only its hash is stored.

Examples::

    python -m llm_gateway.cli keys create --owner alice --models gpt-4o,gpt-4o-mini --rpm 60 --tpm 100000 \\
        --budget 25 --period monthly --expires 90d --metadata team=search --guardrails pii_redaction
    python -m llm_gateway.cli keys list
    python -m llm_gateway.cli keys rotate key_0123456789abcdef --grace 3600
    python -m llm_gateway.cli keys revoke key_0123456789abcdef
    python -m llm_gateway.cli spend report --period monthly
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from llm_gateway.tenants.records import BUDGET_PERIODS, new_key

ClientFactory = Callable[[str | None, str | None], Any]


class CliError(Exception):
    pass


def _boto_client(endpoint_url: str | None, region: str | None) -> Any:
    import boto3

    return boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)


def parse_expiry(value: str, now: float) -> float:
    """``30d``, ``12h``, ``45m``, an ISO date/time (UTC when no zone), or epoch seconds."""
    match = re.fullmatch(r"(\d+)([dhm])", value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now + amount * {"d": 86_400, "h": 3_600, "m": 60}[unit]
    if re.fullmatch(r"\d{9,}", value.strip()):
        return float(value)
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise CliError(f"cannot read the expiry {value!r}: use 30d, 12h, an ISO date, or epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _metadata(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"metadata must be name=value, got {pair!r}")
        out[name] = value
    return out


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llm_gateway.cli", description="llm-gateway administration")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (default: $AWS_ENDPOINT_URL_DYNAMODB, else AWS)")
    parser.add_argument("--region", help="AWS region (default: the AWS configuration)")
    parser.add_argument("--keys-table", "--table", dest="keys_table", help="default: $LLM_GATEWAY_KEYS_TABLE")
    parser.add_argument("--usage-table", help="default: $LLM_GATEWAY_USAGE_TABLE")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    groups = parser.add_subparsers(dest="group", required=True)

    keys = groups.add_parser("keys", help="virtual API keys").add_subparsers(dest="command", required=True)
    create = keys.add_parser("create", help="create a key (printed once)")
    create.add_argument("--owner", required=True)
    create.add_argument("--models", help="comma-separated model groups this key may use (default: all)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--budget", type=float, help="USD per period")
    create.add_argument("--period", choices=BUDGET_PERIODS, default="monthly")
    create.add_argument("--expires", help="30d, 12h, an ISO date, or epoch seconds")
    create.add_argument("--metadata", action="append", default=[], metavar="NAME=VALUE")
    create.add_argument("--guardrails", help="comma-separated guardrails applied to every request")
    create.add_argument(
        "--key-id", help="choose the id (default: random): letters, digits, _ - and ., not master or anonymous"
    )
    listing = keys.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--owner")
    listing.add_argument("--all", action="store_true", help="include secrets replaced by a rotation")
    update = keys.add_parser("update", help="change a key's limits, budget, models, expiry or guardrails")
    update.add_argument("key_id")
    update.add_argument("--models", help="comma-separated; 'all' to lift the restriction")
    update.add_argument("--rpm", type=int, help="0 to lift the limit")
    update.add_argument("--tpm", type=int, help="0 to lift the limit")
    update.add_argument("--budget", type=float, help="USD per period; -1 to lift the budget")
    update.add_argument("--period", choices=BUDGET_PERIODS)
    update.add_argument("--expires", help="30d, 12h, an ISO date, epoch seconds, or 'never'")
    update.add_argument("--guardrails", help="comma-separated; '' for none")
    show = keys.add_parser("show", help="one key's settings")
    show.add_argument("key_id")
    revoke = keys.add_parser("revoke", help="refuse a key from now on (and its rotated predecessors)")
    revoke.add_argument("key_id")
    rotate = keys.add_parser("rotate", help="new secret, same id, settings and spend")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=float, default=0.0, help="seconds the old secret keeps working")

    spend = groups.add_parser("spend", help="spend reports").add_subparsers(dest="command", required=True)
    report = spend.add_parser("report", help="spend per key and model")
    report.add_argument("--key-id", action="append", help="repeatable; default: every key")
    report.add_argument("--period", choices=("daily", "weekly", "monthly", "total"))
    report.add_argument("--start", help="first day, YYYY-MM-DD")
    report.add_argument("--end", help="last day, YYYY-MM-DD")
    return parser


def main(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    client_factory: ClientFactory = _boto_client,
    out: IO[str] | None = None,
) -> int:
    environ = os.environ if env is None else env
    stdout = out or sys.stdout
    args = build_parser().parse_args(argv)
    endpoint = args.endpoint_url or environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None
    try:
        client = client_factory(endpoint, args.region)
        command = _keys if args.group == "keys" else _spend
        result = asyncio.run(command(args, client, environ, clock))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (LookupError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    _print(result, args.json, stdout)
    return 0


def _table(client: Any, name: str | None, what: str, env_var: str) -> Any:
    from llm_gateway.tables.dynamodb import DynamoTable, fixed_client

    if not name:
        raise CliError(f"no {what} table: pass --{what}-table or set {env_var}")
    return DynamoTable(fixed_client(client), name)


async def _keys(args: argparse.Namespace, client: Any, env: Mapping[str, str], clock: Callable[[], float]) -> Any:
    from llm_gateway.scopes import InvalidKeyId, check_key_id
    from llm_gateway.tenants.keystore import KeyStore

    store = KeyStore(
        _table(client, args.keys_table or env.get("LLM_GATEWAY_KEYS_TABLE"), "keys", "LLM_GATEWAY_KEYS_TABLE")
    )
    now = clock()
    if args.command == "create":
        for name, value in (("--rpm", args.rpm), ("--tpm", args.tpm)):
            if value is not None and value < 1:
                raise CliError(f"{name} must be at least 1")
        if args.budget is not None and args.budget < 0:
            raise CliError("--budget must not be negative")
        if args.key_id is not None:
            try:
                check_key_id(args.key_id)
            except InvalidKeyId as exc:
                raise CliError(f"--key-id: {exc}") from None
        secret, record = new_key(
            owner=args.owner,
            now=now,
            key_id=args.key_id,
            models=_csv(args.models),
            rpm=args.rpm,
            tpm=args.tpm,
            budget_usd=args.budget,
            budget_period=args.period,
            expires_at=parse_expiry(args.expires, now) if args.expires else None,
            metadata=_metadata(args.metadata),
            guardrails=_csv(args.guardrails) or (),
        )
        await store.create(record)
        return {"key": secret, **record.to_public(), "note": "Store this key now: it is not shown again."}
    if args.command == "list":
        records = await store.list(include_retired=args.all)
        if args.owner:
            records = [r for r in records if r.owner == args.owner]
        return [r.to_public() for r in records]
    if args.command == "update":
        return (await store.update(args.key_id, **_changes(args, now))).to_public()
    if args.command == "show":
        return (await store.get(args.key_id)).to_public()
    if args.command == "revoke":
        return (await store.revoke(args.key_id, now=now)).to_public()
    secret, record = await store.rotate(args.key_id, now=now, grace_seconds=args.grace)
    return {"key": secret, **record.to_public(), "note": "Store this key now: it is not shown again."}


def _changes(args: argparse.Namespace, now: float) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if args.models is not None:
        changes["models"] = None if args.models == "all" else _csv(args.models)
    for name in ("rpm", "tpm"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                raise CliError(f"--{name} must not be negative")
            changes[name] = value or None
    if args.budget is not None:
        changes["budget_usd"] = None if args.budget < 0 else args.budget
    if args.period is not None:
        changes["budget_period"] = args.period
    if args.expires is not None:
        changes["expires_at"] = None if args.expires == "never" else parse_expiry(args.expires, now)
    if args.guardrails is not None:
        changes["guardrails"] = _csv(args.guardrails) or ()
    if not changes:
        raise CliError("nothing to change: pass --rpm, --tpm, --budget, --period, --models, --expires or --guardrails")
    return changes


async def _spend(args: argparse.Namespace, client: Any, env: Mapping[str, str], clock: Callable[[], float]) -> Any:
    from llm_gateway.tenants.keystore import KeyStore
    from llm_gateway.tenants.report import spend_report
    from llm_gateway.tenants.spend import SpendStore

    name = args.usage_table or env.get("LLM_GATEWAY_USAGE_TABLE")
    store = SpendStore(_table(client, name, "usage", "LLM_GATEWAY_USAGE_TABLE"))
    keys_table = args.keys_table or env.get("LLM_GATEWAY_KEYS_TABLE")
    keys = KeyStore(_table(client, keys_table, "keys", "LLM_GATEWAY_KEYS_TABLE")) if keys_table else None
    return await spend_report(
        store, args.key_id, period=args.period, start=args.start, end=args.end, now=clock(), keys=keys
    )


def _print(result: Any, as_json: bool, out: IO[str]) -> None:
    if as_json:
        out.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    if isinstance(result, list):
        _print_table(result, out)
    elif isinstance(result, dict) and result.get("object") == "spend_report":
        out.write(f"spend {result['period']} {result['start']}..{result['end']}: ${result['total_cost_usd']:.6f}\n")
        _print_table(result["data"], out)
    else:
        for name, value in result.items():
            out.write(f"{name}: {_cell(value)}\n")


def _print_table(rows: list[dict[str, Any]], out: IO[str]) -> None:
    if not rows:
        out.write("(none)\n")
        return
    columns = [c for c in rows[0] if c not in ("metadata", "guardrails", "created_at")]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    if isinstance(value, float) and value > 1e9:
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    return str(value)
