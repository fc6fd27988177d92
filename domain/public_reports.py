"""Public reports (群众举报, 随手拍): only a report verified true may become a hazard (V25)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from domain.base import Context, ZhibaoAggregate, require


class PublicReport(ZhibaoAggregate):
    def __init__(self, unit_code: str) -> None:
        self.unit_code = unit_code
        self.verified: bool | None = None

    class Event(ZhibaoAggregate.Event):
        pass

    @singledispatchmethod
    def when(self, event: Event) -> None:
        """Events that change no state."""

    class PublicReportReceived(ZhibaoAggregate.Created):
        channel: str
        content: str
        location: str | None

    @classmethod
    def receive(cls, ctx: Context, report_id: UUID, unit_code: str, channel: str, content: str,
                location: str | None) -> PublicReport:
        require(bool(content.strip()), "content", "must not be empty", "INPUT")
        ctx.require_jurisdiction("unit_code", unit_code)
        return cls._start(cls.PublicReportReceived, ctx, report_id, unit_code, ctx.at,
                          channel=channel, content=content, location=location)

    class PublicReportVerified(Event):
        pass

    class PublicReportRejected(Event):
        reason: str

    def verify(self, ctx: Context, is_true: bool, reason: str | None) -> None:
        require(self.verified is None, "report_id", "the report was already verified", "LIFECYCLE")
        ctx.require_jurisdiction("report_id", self.unit_code)
        if is_true:
            self._record(self.PublicReportVerified, ctx)
        else:
            require(bool(reason), "reason", "a rejected report says why", "INPUT")
            self._record(self.PublicReportRejected, ctx, reason=reason or "")

    @when.register
    def _(self, event: PublicReport.PublicReportVerified) -> None:
        self.verified = True

    @when.register
    def _(self, event: PublicReport.PublicReportRejected) -> None:
        self.verified = False
