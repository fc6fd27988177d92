"""Credentials at the front door: API tokens of an org's systems, invitation links and
passwords of persons, and what a request proves with them (a `Principal`).

Where they live: the secrets' hashes (a SHA-256 of a 256-bit random token, an argon2id
hash of a password) and the counters that change on every sign-in (failures, lock-out,
the session epoch that sign-out raises) sit in one small table, `zhibao_credentials`, in
the store's own database — never in events, which are published to county systems and
exported as Parquet. Who could sign in, with what scope, from when until when, and each
failed sign-in are events (`domain/credentials.py`), recorded through zhibao's internal
path, so an auditor sees who could act when; the table can always be told from them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain import commands as c
from domain.authority import MATRIX
from domain.base import DomainError
from domain.credentials import READ_ONLY, CredentialKind
from infra.intake.service import Zhibao
from infra.store.databases import eventsourcing_env

TABLE = "zhibao_credentials"
DDL = (f"CREATE TABLE IF NOT EXISTS {TABLE} (credential_id TEXT PRIMARY KEY, kind TEXT NOT "
       "NULL, person_id TEXT NOT NULL, org_id TEXT NOT NULL, login TEXT, digest TEXT NOT NULL, "
       "scope TEXT NOT NULL, expires_at TEXT, revoked INTEGER NOT NULL DEFAULT 0, "
       "failures INTEGER NOT NULL DEFAULT 0, locked_until TEXT, epoch INTEGER NOT NULL "
       "DEFAULT 0, label TEXT NOT NULL DEFAULT '', issued_at TEXT NOT NULL)",
       f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_login ON {TABLE} (login) "
       "WHERE login IS NOT NULL AND revoked = 0 AND kind = 'password'")
COLUMNS = ("credential_id", "kind", "person_id", "org_id", "login", "digest", "scope",
           "expires_at", "revoked", "failures", "locked_until", "epoch", "label", "issued_at")
TOKEN_PREFIX = "zb_"
PASSWORDS = PasswordHasher()  # argon2id, the library's memory-hard defaults (RFC 9106)
MIN_PASSWORD = 10
SCOPES = frozenset(action.partition(":")[0] for action, cells in MATRIX.items() if cells)
"""What a token's scope may name: the actions some role may do (commands, and asking
zhibao for a submission)."""


class Refused(Exception):
    """A credential that does not prove who the request is from (401); `reason` is what
    an auditor reads, never the secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who a request is from: a registered person, through one credential. `scope` None
    means whatever the person's roles allow; else the command names (or read only)."""

    person_id: UUID
    org_id: UUID
    credential_id: UUID
    kind: str  # a CredentialKind, or single sign-on
    scope: frozenset[str] | None = None
    epoch: int = 0

    @property
    def read_only(self) -> bool:
        return self.scope is not None and READ_ONLY in self.scope

    def may_issue(self, command: str) -> bool:
        return self.scope is None or (not self.read_only and command in self.scope)


@dataclass(frozen=True)
class Issued:
    credential_id: UUID
    secret: str  # shown once: the token, or the invitation link's key
    expires_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split_token(token: str) -> tuple[UUID, str]:
    """`zb_<credential id, hex>_<secret>` → (id, secret), or Refused."""
    head, _, secret = token.removeprefix(TOKEN_PREFIX).partition("_")
    try:
        return UUID(hex=head), secret
    except ValueError:
        raise Refused("malformed token") from None


class Credentials:
    """The credential table of one store, and the events that go with it."""

    def __init__(self, app: Zhibao, writing: threading.Lock | None = None) -> None:
        self.app = app
        self.writing = writing or threading.Lock()  # the app's writes, one at a time
        env = eventsourcing_env(app.settings.database_url)
        self._lock = threading.Lock()
        if "SQLITE_DBNAME" in env:
            self._sqlite: sqlite3.Connection | None = sqlite3.connect(
                env["SQLITE_DBNAME"], timeout=30, check_same_thread=False,
                isolation_level=None)
            self._pool: Any = None
        else:
            from psycopg_pool import ConnectionPool

            self._sqlite = None
            conninfo = (f"dbname={env['POSTGRES_DBNAME']} host={env['POSTGRES_HOST']} "
                        f"port={env['POSTGRES_PORT']} user={env['POSTGRES_USER']}")
            if env["POSTGRES_PASSWORD"]:
                conninfo += f" password={env['POSTGRES_PASSWORD']}"
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=8, open=True, kwargs={
                "autocommit": True, "options": f"-c search_path={env['POSTGRES_SCHEMA']}"})
        self._create_table()

    def _create_table(self) -> None:
        """The table, unless it exists; server processes starting together may race to
        create it, and the losers find it made."""
        try:
            for statement in DDL:
                self._execute(statement)
        except (sqlite3.DatabaseError, psycopg.DatabaseError):
            self._execute(f"SELECT 1 FROM {TABLE} WHERE 1 = 0")  # raises unless it exists

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pool is not None:
            self._pool.close()

    # -- the table -------------------------------------------------------------------------

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if self._sqlite is not None:
            with self._lock:
                yield self._sqlite.cursor()
        else:
            with self._pool.connection() as connection, connection.cursor() as cursor:
                yield cursor

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._sqlite is None:
            sql = sql.replace("?", "%s")
        with self._cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []

    def _row(self, where: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        rows = self._execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE {where}", params)
        return dict(zip(COLUMNS, rows[0], strict=True)) if rows else None

    def listing(self, org_id: UUID | None = None) -> list[dict[str, Any]]:
        """Every credential (of one org), newest first; no hash leaves this module."""
        where, params = ("org_id = ?", (str(org_id),)) if org_id else ("1 = 1", ())
        rows = self._execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE {where} "
                             "ORDER BY issued_at DESC", params)
        return [{k: v for k, v in zip(COLUMNS, row, strict=True) if k != "digest"}
                for row in rows]

    # -- issuing and revoking ------------------------------------------------------------

    def _record(self, command: c.Command) -> None:
        with self.writing:
            self.app.record(command)

    def _now(self) -> datetime:
        return self.app.clock()

    def _issue(self, kind: CredentialKind, person_id: UUID, digest: str, scope: tuple[str, ...],
               expires_at: datetime | None, label: str, login: str | None = None,
               credential_id: UUID | None = None) -> UUID:
        """Record the issue (the person must be registered and active), then keep its hash."""
        person = self._person(person_id)
        credential_id = credential_id or uuid4()
        self._record(c.RecordCredentialIssued(
            credential_id=credential_id, kind=kind, person_id=person_id, scope=scope,
            expires_at=expires_at, label=label))
        self._execute(
            f"INSERT INTO {TABLE} (credential_id, kind, person_id, org_id, login, digest, scope, "
            "expires_at, label, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (str(credential_id), kind.value, str(person_id), str(person.org_id), login, digest,
             orjson.dumps(list(scope)).decode(), expires_at.isoformat() if expires_at else None,
             label, self._now().isoformat()))
        return credential_id

    def issue_token(self, person_id: UUID, scope: tuple[str, ...], days: int,
                    label: str = "") -> Issued:
        """An API token for an org's system, acting as `person_id` (its integration
        person), limited to `scope`: command names, or read only."""
        unknown = sorted(set(scope) - {READ_ONLY} - SCOPES)
        if unknown:
            raise DomainError("scope", f"{', '.join(unknown)}: not an action anyone may do; "
                                       f"name actions of docs/permissions.md or {READ_ONLY!r}",
                              "CREDENTIAL")
        if days <= 0:
            raise DomainError("expires", "a token expires after at least one day", "CREDENTIAL")
        secret = secrets.token_urlsafe(32)
        expires_at = self._now() + timedelta(days=days)
        credential_id = self._issue(CredentialKind.API_TOKEN, person_id, _digest(secret),
                                    tuple(sorted(set(scope))), expires_at, label)
        return Issued(credential_id, f"{TOKEN_PREFIX}{credential_id.hex}_{secret}", expires_at)

    def invite(self, person_id: UUID, login: str) -> Issued:
        """A one-use invitation: whoever opens its link sets the person's password."""
        if not login.strip() or len(login) > 64:
            raise DomainError("login", "a login name of 1 to 64 characters", "CREDENTIAL")
        secret = secrets.token_urlsafe(32)
        hours = self.app.settings.http_invitation_hours
        expires_at = self._now() + timedelta(hours=hours)
        credential_id = self._issue(CredentialKind.INVITATION, person_id, _digest(secret), (),
                                    expires_at, f"invitation for {login}", login=login.strip())
        return Issued(credential_id, f"{TOKEN_PREFIX}{credential_id.hex}_{secret}", expires_at)

    def revoke(self, credential_id: UUID, reason: str) -> None:
        row = self._row("credential_id = ?", (str(credential_id),))
        if row is None:
            raise DomainError("credential_id", f"no credential has the id {credential_id}", "REF")
        self._record(c.RecordCredentialRevoked(credential_id=credential_id, reason=reason))
        self._execute(f"UPDATE {TABLE} SET revoked = 1 WHERE credential_id = ?",
                      (str(credential_id),))

    # -- proving -------------------------------------------------------------------------

    def _live(self, row: dict[str, Any] | None) -> dict[str, Any]:
        """A credential that still works, its person still registered and active."""
        if row is None:
            raise Refused("unknown credential")
        if row["revoked"]:
            raise Refused("revoked")
        if row["expires_at"] and datetime.fromisoformat(row["expires_at"]) <= self._now():
            raise Refused("expired")
        try:
            self._person(UUID(row["person_id"]))
        except DomainError:
            raise Refused("person no longer active") from None
        return row

    def _person(self, person_id: UUID) -> Any:
        """A registered, active person — looked for again after folding what other
        processes recorded since, when not known yet."""
        try:
            return self.app.directory.person(person_id)
        except DomainError:
            with self.writing:
                self.app.refresh_directory()
            return self.app.directory.person(person_id)

    def token(self, token: str) -> Principal:
        """The principal an API token proves, or Refused."""
        credential_id, secret = _split_token(token)
        row = self._row("credential_id = ? AND kind = ?",
                        (str(credential_id), CredentialKind.API_TOKEN.value))
        if row is not None and not hmac.compare_digest(row["digest"], _digest(secret)):
            raise Refused("unknown credential")
        row = self._live(row)
        return Principal(UUID(row["person_id"]), UUID(row["org_id"]), credential_id,
                         CredentialKind.API_TOKEN, frozenset(orjson.loads(row["scope"])))

    def invitation(self, key: str) -> dict[str, Any]:
        """The invitation a link's key opens (its login and person), or Refused."""
        credential_id, secret = _split_token(key)
        row = self._row("credential_id = ? AND kind = ?",
                        (str(credential_id), CredentialKind.INVITATION.value))
        if row is not None and not hmac.compare_digest(row["digest"], _digest(secret)):
            raise Refused("unknown credential")
        return self._live(row)

    def accept(self, key: str, password: str) -> UUID:
        """Set the password an invitation is for: the invitation is used up, any earlier
        password of the person revoked, the new one issued."""
        invitation = self.invitation(key)
        if len(password) < MIN_PASSWORD:
            raise DomainError("password", f"at least {MIN_PASSWORD} characters", "CREDENTIAL")
        person_id = UUID(invitation["person_id"])
        self.revoke(UUID(invitation["credential_id"]), "used to set a password")
        for earlier in self._execute(f"SELECT credential_id FROM {TABLE} WHERE person_id = ? "
                                     "AND kind = ? AND revoked = 0",
                                     (str(person_id), CredentialKind.PASSWORD.value)):
            self.revoke(UUID(earlier[0]), "replaced by a new password")
        return self._issue(CredentialKind.PASSWORD, person_id, PASSWORDS.hash(password), (),
                           None, f"password of {invitation['login']}", login=invitation["login"])

    def sign_in(self, login: str, password: str, source: str) -> Principal:
        """A person's password checked; failures counted, recorded and, past the limit,
        locking the login for a while (even the right password is refused then)."""
        row = self._row("login = ? AND kind = ? AND revoked = 0",
                        (login, CredentialKind.PASSWORD.value))
        if row is None:
            raise Refused("unknown login")
        now = self._now()
        if row["locked_until"] and datetime.fromisoformat(row["locked_until"]) > now:
            self._failed(row, "locked out", source, count=False)
            raise Refused("locked out")
        row = self._live(row)
        try:
            PASSWORDS.verify(row["digest"], password)
        except (VerificationError, InvalidHashError):
            self._failed(row, "wrong password", source)
            raise Refused("wrong password") from None
        self._execute(f"UPDATE {TABLE} SET failures = 0, locked_until = NULL "
                      "WHERE credential_id = ?", (row["credential_id"],))
        return self.session_principal(UUID(row["credential_id"]))

    def failures(self, login: str) -> int:
        row = self._row("login = ? AND kind = ? AND revoked = 0",
                        (login, CredentialKind.PASSWORD.value))
        return row["failures"] if row else 0

    def _failed(self, row: dict[str, Any], reason: str, source: str, count: bool = True) -> None:
        self._record(c.RecordSignInFailed(credential_id=UUID(row["credential_id"]),
                                             reason=reason, source=source[:200]))
        if not count:
            return
        failures = row["failures"] + 1
        settings = self.app.settings
        locked = None
        if failures >= settings.http_max_failures:
            locked = (self._now() + timedelta(seconds=settings.http_lockout_seconds)).isoformat()
            failures = 0
        self._execute(f"UPDATE {TABLE} SET failures = ?, locked_until = ? "
                      "WHERE credential_id = ?", (failures, locked, row["credential_id"]))

    def session_principal(self, credential_id: UUID, epoch: int | None = None) -> Principal:
        """The person a session's password credential proves — while it is live and the
        session is of its current epoch (sign-out raises it)."""
        row = self._live(self._row("credential_id = ? AND kind = ?",
                                   (str(credential_id), CredentialKind.PASSWORD.value)))
        if epoch is not None and epoch != row["epoch"]:
            raise Refused("signed out")
        return Principal(UUID(row["person_id"]), UUID(row["org_id"]), credential_id,
                         CredentialKind.PASSWORD, None, row["epoch"])

    def sign_out(self, credential_id: UUID) -> None:
        self._execute(f"UPDATE {TABLE} SET epoch = epoch + 1 WHERE credential_id = ?",
                      (str(credential_id),))
