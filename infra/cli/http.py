"""`zhibao serve` (the HTTP front door) and `zhibao credentials` (API tokens, invitation
links, revocation). Credentials are issued here, on the server, by whoever runs zhibao —
recorded as zhibao's own events, their secrets shown once and stored only as hashes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import orjson

from domain.base import DomainError
from infra.cli.common import UserError, console


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("serve", help="serve the HTTP API and the web workspace")
    p.add_argument("--host", help="address to listen on (default ZHIBAO_HTTP_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default ZHIBAO_HTTP_PORT, 8000)")
    p.add_argument("--workers", type=int, help="server processes (default ZHIBAO_HTTP_WORKERS, "
                                               "1)")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.set_defaults(run=run_serve)

    p = subparsers.add_parser("credentials", help="API tokens and invitation links")
    actions = p.add_subparsers(dest="credentials_command", required=True, metavar="ACTION")
    p = actions.add_parser("issue", help="an API token for a system, acting as PERSON (its "
                                         "integration person); printed once")
    p.add_argument("person", metavar="PERSON", help="the person id the token acts as")
    p.add_argument("--scope", required=True, help="comma-separated command names, or read")
    p.add_argument("--days", type=int, default=90, help="valid for this many days (90)")
    p.add_argument("--label", default="", help="what the token is for")
    p.set_defaults(run=run_issue)
    p = actions.add_parser("invite", help="a one-use link for PERSON to set a password")
    p.add_argument("person", metavar="PERSON", help="the person id")
    p.add_argument("--login", help="the login name (default: the person id)")
    p.set_defaults(run=run_invite)
    p = actions.add_parser("list", help="credentials, one per line, tab-separated "
                                        "(never their secrets)")
    p.add_argument("--org", help="only this org's")
    p.set_defaults(run=run_list)
    p = actions.add_parser("revoke", help="revoke a credential at once")
    p.add_argument("credential", metavar="CREDENTIAL")
    p.add_argument("--reason", required=True)
    p.set_defaults(run=run_revoke)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from infra.http.app import create_app
    from infra.settings import get_settings

    settings = get_settings()
    host, port = args.host or settings.http_host, args.port or settings.http_port
    workers = args.workers or settings.http_workers
    console.print(f"zhibao serving {settings.database_url} on "
                  f"{'https' if args.ssl_certfile else 'http'}://{host}:{port}/ "
                  f"(API docs at /api/docs), {workers} process(es)")
    # Several processes start the app by name, each reading the same settings (the
    # environment, which --database-url has set).
    app: Any = create_app(settings) if workers == 1 else "infra.http.app:create_app"
    uvicorn.run(app, factory=workers > 1, workers=workers, host=host, port=port,
                log_level="warning", ssl_certfile=args.ssl_certfile,
                ssl_keyfile=args.ssl_keyfile, proxy_headers=False)
    return 0


def _uuid(field: str, text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise UserError(f"{field}: {text!r} is not an id (a UUID)") from None


@contextmanager
def _credentials() -> Iterator[Any]:
    from infra.cli.common import open_app
    from infra.http.credentials import Credentials

    app = open_app()
    credentials = Credentials(app)
    try:
        yield credentials
    finally:
        credentials.close()
        app.close()


def run_issue(args: argparse.Namespace) -> int:
    person = _uuid("person", args.person)
    scope = tuple(s.strip() for s in args.scope.split(",") if s.strip())
    try:
        with _credentials() as credentials:
            issued = credentials.issue_token(person, scope, args.days, args.label)
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
    console.print(f"token {issued.credential_id} expires {issued.expires_at:%Y-%m-%d %H:%M}; "
                  "shown once — keep it secret (Authorization: Bearer <token>):")
    print(issued.secret)
    return 0


def invitation_link(base_url: str, key: str) -> str:
    return f"{base_url.rstrip('/')}/invitation?key={key}"


def run_invite(args: argparse.Namespace) -> int:
    person = _uuid("person", args.person)
    try:
        with _credentials() as credentials:
            issued = credentials.invite(person, args.login or str(person))
            base_url = credentials.app.settings.http_base_url
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
    console.print(f"invitation for {args.login or person}, valid until "
                  f"{issued.expires_at:%Y-%m-%d %H:%M}, one use:")
    print(invitation_link(base_url, issued.secret))
    return 0


def run_list(args: argparse.Namespace) -> int:
    org = _uuid("org", args.org) if args.org else None
    with _credentials() as credentials:
        rows = credentials.listing(org)
    print("credential\tkind\tperson\tlogin\tscope\texpires\tstate")
    for row in rows:
        print("\t".join((row["credential_id"], row["kind"], row["person_id"],
                         row["login"] or "", ",".join(orjson.loads(row["scope"])),
                         row["expires_at"] or "", "revoked" if row["revoked"] else "live")))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    credential = _uuid("credential", args.credential)
    try:
        with _credentials() as credentials:
            credentials.revoke(credential, args.reason)
    except DomainError as e:
        raise UserError(f"rejected, nothing written — {e}") from None
    console.print(f"credential {credential} revoked")
    return 0
