"""`python -m chuyi`: the platform's command line.

  up | down | logs        the local stack (see chuyi/stack.py)
  serve NAME              run one service (applications, review, funding, notify, or module:Class)
  dead-letters list|replay QUEUE [--id ID ...]
  token ROLE [--sub S] [--institution-id I] [--prefecture P] [--expert-id E] [--ttl SECONDS]
"""
from __future__ import annotations

import argparse
import json
import sys


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
    token = commands.add_parser("token", help="mint a development token (signed with JWT_SECRET)")
    token.add_argument("role", choices=["institution", "prefecture", "province", "expert", "finance", "hrss"])
    token.add_argument("--sub", default=None, help="the user id (default: <role>-dev)")
    token.add_argument("--institution-id")
    token.add_argument("--prefecture", help="one of the 14 prefectures, e.g. 长沙市")
    token.add_argument("--expert-id")
    token.add_argument("--sponsor", help="the HRSS sponsor department (role hrss)")
    token.add_argument("--ttl", type=int, default=3600, help="seconds the token stays valid")
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
    if args.command == "token":
        from services.gateway.auth import mint_token
        scope = {k: v for k, v in {"institution_id": args.institution_id, "prefecture": args.prefecture,
                                   "expert_id": args.expert_id, "sponsor": args.sponsor}.items() if v}
        print(mint_token(args.role, args.sub or f"{args.role}-dev", ttl_seconds=args.ttl, **scope))
        return 0
    from chuyi import stack
    return {"up": stack.up, "down": stack.down, "logs": lambda: stack.logs(args.lines)}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
