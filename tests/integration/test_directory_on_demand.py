"""The application service folds its directory of units, orgs, persons and enterprises on
first use, not when it opens: a province holds 200,000 of each, and the stages that only
read the log — the projector and verify — never judge a command, so they never hold it.
A command still finds it, as folded from the whole log."""

from __future__ import annotations

from infra.audit.integrity import verify
from infra.intake.service import Zhibao
from infra.reporting.reporter import catch_up, open_views
from infra.settings import Settings


def test_reading_the_log_leaves_the_directory_unfolded(demo_url):
    app = Zhibao(Settings(database_url=demo_url))
    try:
        views = open_views(app)
        try:
            assert catch_up(app, views).position > 0
        finally:
            views.close()
        assert verify(app).ok
        assert app._directory is None  # not folded: what this test is about

        assert app.damage is None
        assert len(app.directory.codes) > 100  # folded from the whole log on first use
        assert app.directory.position > 0
    finally:
        app.close()
