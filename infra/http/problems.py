"""Errors as RFC 9457 problem details (`application/problem+json`), naming the field and
the rule, as the command line names them in one line."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from domain.base import DomainError

PROBLEM = "application/problem+json"
FORBIDDING = ("AUTH-", "V7", "SYSTEM-ONLY", "SCOPE")
"""Rule codes that refuse who is asking, not what they sent: 403."""


class Problem(Exception):
    def __init__(self, status: int, title: str, field: str | None = None,
                 rule: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.field = field
        self.rule = rule
        self.code = code

    def body(self) -> dict[str, Any]:
        detail = f"{self.field}: {self.rule}" if self.field else self.title
        return {"type": "about:blank", "title": self.title, "status": self.status,
                "detail": detail + (f" ({self.code})" if self.code else ""),
                "field": self.field, "rule": self.rule, "code": self.code}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="zhibao"'} if self.status == 401 else None
        return JSONResponse(self.body(), self.status, headers=headers, media_type=PROBLEM)


def status_of(error: DomainError) -> int:
    return 403 if error.code and error.code.startswith(FORBIDDING) else 422


def from_domain(error: DomainError) -> Problem:
    status = status_of(error)
    title = "forbidden" if status == 403 else "rejected, nothing written"
    return Problem(status, title, error.field, error.rule, error.code)


def unauthorized(reason: str) -> Problem:
    return Problem(401, "a valid credential is required", "authorization", reason)


def forbidden(field: str, rule: str, code: str = "AUTH-ROLE") -> Problem:
    return Problem(403, "forbidden", field, rule, code)
