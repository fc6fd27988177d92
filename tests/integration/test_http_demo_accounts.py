"""`zhibao demo` prints how to sign in: one demo person per kind of user (an auditor
registered for it), each with the demo password set through the invitation path; a second
run keeps them."""

from __future__ import annotations

from infra.http.credentials import Credentials
from infra.http.demo import DEMO_PASSWORD, demo_accounts
from infra.intake.service import Zhibao
from infra.settings import Settings


def test_the_demo_persons_can_sign_in(demo_url: str) -> None:
    app = Zhibao(Settings(database_url=demo_url, audit_signing_key=None))
    credentials = Credentials(app)
    try:
        accounts = demo_accounts(credentials)
        assert [a.login for a in accounts] == ["city", "county", "town", "village",
                                               "enterprise", "auditor"]
        for account in accounts:
            principal = credentials.sign_in(account.login, DEMO_PASSWORD, "test")
            roles = app.directory.persons[principal.person_id].roles
            assert account.role in roles
        written = app.recorder.max_notification_id()
        assert [a.login for a in demo_accounts(credentials)] == [a.login for a in accounts]
        assert app.recorder.max_notification_id() == written
    finally:
        credentials.close()
        app.close()
