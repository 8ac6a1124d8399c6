"""`python -m chuyi`: the platform's command line.

up | down | logs        the local stack (see chuyi/stack.py)
demo [--seed N ...]     a whole selection round through the public API of the running stack
serve NAME              run one service (applications, review, funding, notify, review-jobs, or module:Class)
dead-letters list|replay QUEUE [--id ID ...]
backup DIR | restore DIR   every service's database, checksummed (chuyi/backup.py)
audit verify            every service's audit chains and checkpoints (services/common/audit.py)
token ROLE [--sub S] [--institution-id I] [--prefecture P] [--expert-id E] [--ttl SECONDS]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="chuyi", description="Chuyi Platform command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start RabbitMQ (if needed), MongoDB, every service and the gateway")
    commands.add_parser("down", help="stop exactly what `up` started")
    logs = commands.add_parser("logs", help="show the stack's logs")
    logs.add_argument("-n", "--lines", type=int, default=40)
    serve = commands.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service")
    dead = commands.add_parser("dead-letters", help="list or replay dead-lettered events")
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("queue", help="the consumer queue, e.g. review.applications")
    dead.add_argument("--id", action="append", dest="ids", help="replay only these message ids")
    for name, what in (
        ("backup", "dump every service's database (and stored files) into DIR, checksummed"),
        ("restore", "rebuild an empty platform from the backup in DIR"),
    ):
        commands.add_parser(name, help=what).add_argument("directory", type=Path)
    audit = commands.add_parser("audit", help="the tamper-evident audit log")
    audit.add_argument(
        "action", choices=["verify"], help="recompute every chain and checkpoint; non-zero at the first break"
    )
    token = commands.add_parser("token", help="mint a development token (signed with JWT_SECRET)")
    token.add_argument("role", choices=["institution", "prefecture", "province", "expert", "finance", "hrss"])
    token.add_argument("--sub", default=None, help="the user id (default: <role>-dev)")
    token.add_argument("--institution-id")
    token.add_argument("--prefecture", help="one of the 14 prefectures, e.g. 长沙市")
    token.add_argument("--expert-id")
    token.add_argument("--sponsor", help="the HRSS sponsor department (role hrss)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds the token stays valid")
    _demo_arguments(commands.add_parser("demo", help="run a whole selection round through the public HTTP API"))
    args = parser.parse_args(argv)

    if args.command == "serve":
        import warnings

        warnings.filterwarnings("ignore", message="\nEventlet is deprecated")  # nameko 2 runs on it; see pyproject
        import eventlet

        eventlet.monkey_patch()  # before anything imports socket or threading
        from services.common.runner import run

        run(args.service)
        return 0
    if args.command == "dead-letters":
        from services.common import deadletters
        from services.common.config import Settings

        uri = Settings.from_env().amqp_uri
        if args.action == "list":
            for letter in deadletters.list_dead_letters(uri, args.queue):
                print(json.dumps(letter, ensure_ascii=False))
        else:
            count = deadletters.replay(uri, args.queue, set(args.ids) if args.ids else None)
            print(f"replayed {count} message(s) to {args.queue}")
        return 0
    if args.command in ("backup", "restore"):
        from chuyi import backup

        try:
            summary = getattr(backup, args.command)(args.directory)
        except backup.BackupError as problem:
            print(f"chuyi {args.command}: {problem}", file=sys.stderr)
            return 1
        print("\n".join([f"{args.command} {args.directory}: done", *summary.lines()]))
        return 0
    if args.command == "audit":
        return _verify_audit()
    if args.command == "token":
        from services.gateway.auth import mint_token

        scope = {
            k: v
            for k, v in {
                "institution_id": args.institution_id,
                "prefecture": args.prefecture,
                "expert_id": args.expert_id,
                "sponsor": args.sponsor,
            }.items()
            if v
        }
        print(mint_token(args.role, args.sub or f"{args.role}-dev", ttl_seconds=args.ttl, **scope))
        return 0
    if args.command == "demo":
        return _demo(args)
    from chuyi import stack

    return {"up": stack.up, "down": stack.down, "logs": lambda: stack.logs(args.lines)}[args.command]()


DASHBOARD_TOKEN_TTL_S = 12 * 3600


def _verify_audit() -> int:
    """Each service's audit log in turn; the first break is named and ends the walk (exit 1). Keep
    the printed checkpoint hashes outside the database: they vouch for everything before them."""
    from pymongo import MongoClient

    from services.common import audit
    from services.common.config import SERVICES, Settings

    settings = Settings.from_env()
    with MongoClient(settings.mongo_uri, tz_aware=True) as client:
        for service in SERVICES:
            db = client[settings.database_name(service)]
            try:
                last = audit.verify(db)
            except audit.Broken as broken:
                print(f"chuyi audit verify: {service}: {broken}", file=sys.stderr)
                return 1
            records = db[audit.RECORDS].count_documents({})
            sealed = f"checkpoint {last['_id']} {last['hash']}" if last else "no checkpoint yet"
            print(f"{service}: {records} record(s) verified; {sealed}")
    return 0


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    """Options left out take the demo's defaults (chuyi/demo/plan.py `DemoConfig`)."""
    demo.add_argument("--base-url", help="the gateway (default: the local stack's, GATEWAY_BIND)")
    demo.add_argument("--seed", type=int, help="the demo world's seed")
    demo.add_argument("--institutions", type=int, help="institutions in the demo world")
    demo.add_argument("--experts", type=int, help="experts in the pool")
    demo.add_argument("--categories", help="one call per category, comma-separated (e.g. hv-school,training-base)")
    demo.add_argument("--applications-per-call", type=int, help="at most this many applications per call")
    demo.add_argument("--concurrency", type=int, help="parallel requests in the bulk steps")
    demo.add_argument("--notice-seconds", type=float, help="how long the public notice window stays open")
    demo.add_argument(
        "--window-seconds", type=float, help="how long the calls take applications (default: from their number)"
    )
    demo.add_argument(
        "--close-early",
        action="store_true",
        default=None,
        help="the province closes the calls once every application is in and decided, not at the window's end",
    )
    demo.add_argument("--finance-db", type=Path, help="the finance consumer's SQLite book (default: var/demo/)")


def _demo(args) -> int:
    from chuyi.demo.api import DemoError
    from chuyi.demo.driver import run_demo
    from chuyi.demo.plan import DemoConfig
    from chuyi.stack import GATEWAY_BIND, VAR
    from services.common.config import Settings
    from services.gateway.auth import mint_token
    from services.gateway.settings import Settings as GatewaySettings

    gateway = GatewaySettings.from_env()
    if gateway.jwt_algorithm != "HS256":
        print(
            "chuyi demo: the gateway verifies RS256 tokens (JWT_PUBLIC_KEY); the demo mints HS256 tokens with "
            "JWT_SECRET only",
            file=sys.stderr,
        )
        return 2
    base = (args.base_url or f"http://{GATEWAY_BIND}").rstrip("/")
    sizes = {
        name: getattr(args, name)
        for name in (
            "seed",
            "institutions",
            "experts",
            "applications_per_call",
            "concurrency",
            "notice_seconds",
            "window_seconds",
            "close_early",
        )
    }
    if args.categories:
        sizes["categories"] = tuple(c.strip() for c in args.categories.split(",") if c.strip())
    secret = gateway.jwt_secret
    try:
        config = DemoConfig(
            base_url=base,
            jwt_secret=secret,
            amqp_uri=Settings.from_env().amqp_uri,
            finance_db=args.finance_db or VAR / "demo" / "finance.sqlite3",
            **{name: value for name, value in sizes.items() if value is not None},
        )
        result = run_demo(config)
    except (DemoError, ValueError) as problem:
        print(f"\nchuyi demo stopped: {problem}", file=sys.stderr)
        return 1
    dashboard = mint_token("province", "demo-provincial-office", ttl_seconds=DASHBOARD_TOKEN_TTL_S, secret=secret)
    lines = [
        ("API", f"{base}/v1   (docs {base}/docs, OpenAPI {base}/openapi.json)"),
        *(("notice", f"{base}/v1/calls/{call.id}/notice   ({call.category}, public)") for call in result.calls),
        ("dashboard", f"{base}/dashboard#token={dashboard}"),
        ("token", f"python -m chuyi token province   (curl -H 'Authorization: Bearer <token>' {base}/v1/calls)"),
        ("logs", "make logs"),
        ("stop", "make down"),
    ]
    print("\nThe stack stays up:\n" + "\n".join(f"  {name:<10} {text}" for name, text in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
