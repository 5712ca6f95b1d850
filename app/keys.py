"""Manage API keys in the configured database (DATABASE_URL).

    python -m app.keys create NAME [--admin] [--read-all] [--max-active-jobs N] [--max-queued-samples N]
    python -m app.keys list
    python -m app.keys revoke ID|NAME|PREFIX
    python -m app.keys rotate-secret ID|NAME|PREFIX

``create`` prints the key on stdout (and nothing else there, so ``KEY=$(python -m app.keys create
me)`` works); it is shown once and only its hash is stored. Its webhook signing secret goes to stderr
(``rotate-secret`` replaces it and prints the new one on stdout). ``--admin`` sees and cancels every job;
``--read-all`` (for other lab services) sees every job and structure but cancels only its own.
"""

from __future__ import annotations

import argparse
import sys

from app.core.db import get_sessionmaker
from app.services import api_keys


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app.keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key and print it")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="see and cancel every job")
    create.add_argument("--read-all", action="store_true", help="see every job and structure (read-only)")
    create.add_argument("--max-active-jobs", type=_positive, default=None, help="quota override")
    create.add_argument("--max-queued-samples", type=_positive, default=None, help="quota override")
    sub.add_parser("list", help="list keys (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke by id, name or prefix")
    revoke.add_argument("ident")
    rotate = sub.add_parser("rotate-secret", help="new webhook signing secret for one key; prints it")
    rotate.add_argument("ident")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with get_sessionmaker()() as session:
        if args.command == "create":
            try:
                key = api_keys.create_key(
                    session,
                    args.name,
                    is_admin=args.admin,
                    read_all=args.read_all,
                    max_active_jobs=args.max_active_jobs,
                    max_queued_samples=args.max_queued_samples,
                )
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(key.secret)
            print(f"created key {key.id} ({key.name}); store it now, it is not shown again", file=sys.stderr)
            print(f"webhook signing secret: {key.webhook_secret}", file=sys.stderr)
            return 0
        if args.command == "list":
            print(f"{'id':36}  {'name':20}  {'prefix':12}  {'scope':8}  {'created':19}  revoked")
            for k in api_keys.list_keys(session):
                scope = "admin" if k.is_admin else "read-all" if k.read_all else "own"
                revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
                print(
                    f"{k.id!s:36}  {k.name[:20]:20}  {k.prefix:12}  {scope:8}  "
                    f"{k.created_at:%Y-%m-%d %H:%M:%S}  {revoked}"
                )
            return 0
        if args.command == "rotate-secret":
            try:
                row, secret = api_keys.rotate_webhook_secret(session, args.ident)
            except LookupError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(secret)
            print(f"new webhook signing secret of key {row.id} ({row.name}); the old one no longer verifies",
                  file=sys.stderr)
            return 0
        revoked = api_keys.revoke_keys(session, args.ident)
        if not revoked:
            print(f"no active key matches {args.ident!r}", file=sys.stderr)
            return 1
        for k in revoked:
            print(f"revoked {k.id} ({k.name})")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
