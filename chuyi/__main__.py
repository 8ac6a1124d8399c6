"""`python -m chuyi`: the platform's command line.

  up | down | logs        the local stack (see chuyi/stack.py)
  serve NAME              run one service (applications, review, funding, notify, or module:Class)
  dead-letters list|replay QUEUE [--id ID ...]
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
    from chuyi import stack
    return {"up": stack.up, "down": stack.down, "logs": lambda: stack.logs(args.lines)}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
