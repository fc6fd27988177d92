"""Random command sequences by random actors, applied through the application service
(hypothesis stateful testing on SQLite). After every step, every hazard

- is in the state the §6.2 reference model (tests/hazard_model.py) predicts — a command the
  model forbids was rejected and wrote nothing;
- never left a terminal state;
- if VERIFIED or CLOSED and major: its last verification passed and was made by a body
  authorised to verify majors at county level or above (V4);
- if CLOSED and listed: was delisted by its listing authority before closure (V5);
- has a version equal to the number of its stored events.

Half of the steps take the hazard a step along §6.2 (so long lifecycles are reached), a third
send a command §6.2 forbids now but allows one step earlier or later, the rest any command;
the actor is three times in five the one §6.2 names, else a body on the spot or anyone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from domain.base import SHANGHAI, DomainError, Level, business_date
from domain.commands import RecordHazardOverdue
from domain.hazards import Hazard, HazardState
from infra.store.records import event_payload, event_type
from tests.support.hazard_model import (
    ALLOWED_FROM,
    CLOSED,
    CONFIRMED,
    OPEN,
    RECTIFIED,
    RECTIFYING,
    RELAPSE,
    REPORTED,
    TERMINAL,
    VERIFIED,
    ModelHazard,
    allowed,
    apply,
)
from tests.support.hazard_paths import (
    CRITERIA_REF,
    DEADLINE_AFTER,
    FULL_PLAN,
    Hazards,
    hazards_in_new_world,
)

settings.register_profile(
    "hazard-lifecycle", max_examples=40, stateful_step_count=50, deadline=None,
    derandomize=True, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow])
"""Derandomised, so the suite is stable and the reach check below is meaningful; without
shrinking, because a failing walk replayed through the store shrinks for minutes (the
failure report lists every step anyway). Raise max_examples to search deeper by hand."""

START = datetime(2021, 3, 1, 9, 0, tzinfo=SHANGHAI)
ACTORS = ["town", "village", "other_town", "county_ema", "county_gov", "county_chem",
          "other_county_ema", "city_office", "owner", "shop"]  # owner: the hazard's enterprise
NEARBY = ["town", "village", "county_ema", "county_gov", "owner"]
"""Bodies inside the hazard's territory, with more or less power than a command needs."""

Actor = str
"""An org or enterprise of the test world by name: its person acts."""

COMMANDS = sorted([*ALLOWED_FROM, "RecordHazardOverdue", "CloseEnterprise"])
"""Everything that may be sent: the §6.2 commands, the overdue sweep, and closing the
hazards' enterprise (after which eliminating them by closure is a step forward)."""


def forward(hazard: Hazard, enterprise_closed: bool) -> list[str]:
    """The commands that take `hazard` a step along §6.2 from where it is now, closing its
    enterprise among them (the way to ELIMINATED_BY_CLOSURE); a relapse, which starts a new
    hazard, is left to the random picks."""
    if hazard.state in TERMINAL:
        return []
    if enterprise_closed:
        return ["EliminateHazardByClosure"]
    listed = hazard.listing is not None and not hazard.delisted
    major = hazard.grade is not None and hazard.grade.value == "major"
    may_list = ["ListHazard"] * 2 if major and hazard.listing is None else []
    if hazard.state is CONFIRMED:
        if not major:
            return ["SubmitRectificationPlan", "DeclareRectified"]
        return ["ReviewRectificationPlan"] if hazard.plan else \
            ["SubmitRectificationPlan", *may_list]
    return {
        REPORTED: ["ConfirmHazard"] * 4 + ["RectifyHazardOnSpot", "VoidHazard"],
        RECTIFYING: ["DeclareRectified"] * 3 + ["ReportRectificationProgress",
                                                "RequestDeadlineExtension", "CloseEnterprise",
                                                *may_list],
        RECTIFIED: ["VerifyHazard", *may_list],
        VERIFIED: ["DelistHazard", "CloseHazard"] if listed else ["CloseHazard"],
    }[hazard.state]


NEIGHBOURS: dict[HazardState, frozenset[HazardState]] = {
    REPORTED: frozenset({CONFIRMED}),
    CONFIRMED: frozenset({REPORTED, RECTIFYING}),
    RECTIFYING: frozenset({CONFIRMED, RECTIFIED}),
    RECTIFIED: frozenset({RECTIFYING, VERIFIED}),
    VERIFIED: frozenset({RECTIFIED, CLOSED}),
    **{state: OPEN for state in TERMINAL},  # whatever could reopen it
}


def untimely(hazard: ModelHazard) -> list[str]:
    """Commands §6.2 forbids now but allows one step earlier or later: where a broken
    guard would show first."""
    near = NEIGHBOURS[hazard.state]
    return [name for name, states in ALLOWED_FROM.items()
            if hazard.state not in states and states & near]


def authority(command: str, hazard: ModelHazard, grade: str | None) -> str:
    """The actor §6.2 names for `command` on `hazard` (the grade being given, if any)."""
    major = (grade or hazard.grade) == "major"
    if command in ("ConfirmHazard", "VerifyHazard", "CloseHazard"):
        return "county_ema" if major else "town"
    if command in ("SubmitRectificationPlan", "ReportRectificationProgress", "DeclareRectified",
                   "RequestDeadlineExtension"):
        return "owner"
    if command in ("ListHazard", "DelistHazard", "DecideDeadlineExtension"):
        return "county_gov"
    if command == "VoidHazard" and hazard.state is REPORTED:
        return "town"
    if command in ("RectifyHazardOnSpot", RELAPSE, "RecordHazardOverdue"):
        return "town"
    return "county_ema"


class HazardLifecycle(RuleBasedStateMachine):
    def __init__(self, hazards: Hazards, reached: set[tuple[str, str | None, bool]]) -> None:
        super().__init__()
        self.hazards = hazards
        hazards.clock.now = START  # each example on its own calendar, so it replays exactly
        self.app = hazards.world.app
        self.reached = reached
        self.model: dict[UUID, ModelHazard] = {}
        self.final: dict[UUID, HazardState] = {}
        self.seen: dict[UUID, Hazard] = {}  # as loaded by the last invariant check
        self.enterprise = hazards.new_enterprise()  # closing it touches this example's only
        self.enterprise_closed = False

    # -- rules -----------------------------------------------------------------------------

    @precondition(lambda self: all(m.state in TERMINAL for m in self.model.values()))
    @rule(grade=st.sampled_from(["general", "major"]),
          by=st.sampled_from(["town", "town", "town", *ACTORS]))
    def report(self, grade: str, by: str) -> None:
        """A new hazard once the others are over (at a new enterprise if theirs closed)."""
        if self.enterprise_closed:
            self.enterprise, self.enterprise_closed = self.hazards.new_enterprise(), False
        hazard_id = uuid4()
        enterprise_id = self.hazards.world.enterprises[self.enterprise]
        reporter = self.enterprise if by == "owner" else by
        if self._send("ReportHazard", reporter, stamp="discovered_at", hazard_id=hazard_id,
                      enterprise_id=enterprise_id, channel="supervisory_inspection",
                      description="消防通道堵塞", category="unsafe_condition",
                      proposed_grade=grade):
            self.model[hazard_id] = ModelHazard()

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        open_ones = [h for h, m in self.model.items() if m.state not in TERMINAL]
        hazard_id = data.draw(st.sampled_from(open_ones or list(self.model)), label="hazard")
        model, hazard = self.model[hazard_id], self.seen[hazard_id]
        picks = {"ahead": forward(hazard, self.enterprise_closed),
                 "untimely": untimely(model), "any": COMMANDS}
        kind = data.draw(st.sampled_from(
            ["ahead"] * 3 + ["untimely"] * 2 + ["any"]).filter(lambda kind: picks[kind]))
        name = data.draw(st.sampled_from(picks[kind]), label="command")
        fields = data.draw(arguments(name, hazard, self.hazards), label="fields")
        who = data.draw(st.sampled_from(["named", "named", "named", "nearby", "anyone"]))
        by = authority(name, model, fields.get("grade")) if who == "named" else \
            data.draw(st.sampled_from(NEARBY if who == "nearby" else ACTORS), label="by")
        if by == "owner":
            by = self.hazards.world.owner(hazard.enterprise_id) if hazard.enterprise_id \
                else self.enterprise
        pause = data.draw(st.sampled_from([0, 0, 0, 0, 0, 1, 30, 24 * 20]), label="hours later")
        self.hazards.clock.advance(hours=pause)
        stamp = fields.pop("stamp", None)
        if name == "CloseEnterprise":
            self.enterprise_closed |= self._send(name, by, **fields)
        else:
            self._step(hazard_id, name, by, stamp, fields)

    # -- sending -----------------------------------------------------------------------------

    def _step(self, hazard_id: UUID, name: str, by: Actor, stamp: str | None,
              fields: dict[str, Any]) -> None:
        model = self.model[hazard_id]
        command = "ReportHazard" if name == RELAPSE else name
        if not self._send(command, by, stamp=stamp, **fields):
            return
        if name == "RecordHazardOverdue":
            return
        assert allowed(model, name), f"{name} was accepted from {model.state}"
        apply(model, name, fields)
        if name == RELAPSE:
            self.model[fields["hazard_id"]] = ModelHazard()

    def _send(self, command: str, by: Actor, stamp: str | None = None, **fields: Any) -> bool:
        """Apply the command; False if rejected, after checking that it wrote nothing."""
        before = self.app.recorder.max_notification_id()
        try:
            if command == "RecordHazardOverdue":  # the sweep's: zhibao's own
                self.app.record(RecordHazardOverdue(**fields))
            else:
                self.hazards.do(command, by, stamp=stamp, **fields)
        except DomainError:
            assert self.app.recorder.max_notification_id() == before, f"rejected {command} wrote"
            return False
        return True

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def every_hazard_is_legal(self) -> None:
        for hazard_id, model in self.model.items():
            hazard = self.seen[hazard_id] = self.hazards.get(hazard_id)
            stored = list(self.app.recorder.select_events(hazard_id))
            assert hazard.version == len(stored)
            assert hazard.state is model.state, f"{hazard.state}, model says {model}"
            assert (hazard.grade and hazard.grade.value) == model.grade
            if hazard_id in self.final:
                assert hazard.state is self.final[hazard_id], "left a terminal state"
            if hazard.state in TERMINAL:
                self.final[hazard_id] = hazard.state
            if hazard.state in (VERIFIED, CLOSED):
                self._check_acceptance(hazard, [(event_type(s.topic), event_payload(s.state))
                                                for s in stored])
            self.reached.add((hazard.state.value, model.grade, model.listed))

    def _check_acceptance(self, hazard: Hazard,
                          events: list[tuple[str, dict[str, Any]]]) -> None:
        """VERIFIED means "passed verification by an authorised body" (§6.1); CLOSED comes
        only from there (or on the spot, for a general hazard)."""
        kinds = [kind for kind, _ in events]
        if hazard.grade is not None and hazard.grade.value == "major":
            verified = [data for kind, data in events if kind == "HazardVerified"]
            assert verified and verified[-1]["passed"], "accepted without passing verification"
            verifier = self.app.directory.org(UUID(verified[-1]["verifier_org_id"]))
            assert verifier.can_verify_major and verifier.at_least(Level.COUNTY), \
                "a major hazard accepted on a verification by an unauthorised body"
        if hazard.state is CLOSED and "HazardListed" in kinds:
            assert "HazardDelisted" in kinds[:kinds.index("HazardClosed")], "closed while listed"
            listing = next(data for kind, data in events if kind == "HazardListed")["listing"]
            delisting = next(data for kind, data in events if kind == "HazardDelisted")
            assert delisting["actor"]["org_id"] == listing["authority_org_id"]


@st.composite
def arguments(draw: st.DrawFn, name: str, hazard: Hazard, hazards: Hazards) -> dict[str, Any]:
    """Fields for `name` on `hazard`: mostly plausible, sometimes not."""
    target = {"hazard_id": hazard.id}
    deadline = hazard.deadline or business_date(hazard.discovered_at) + DEADLINE_AFTER
    if name == "ConfirmHazard":
        grade = draw(st.sampled_from(["major", "major", "general"]))
        criteria = draw(st.sampled_from([CRITERIA_REF, CRITERIA_REF, None]))
        return {**target, "grade": grade, "treatment": draw(st.sampled_from(
            ["deadline", "deadline", "immediate"])),
            "deadline": hazard.discovered_at.date() + timedelta(days=draw(st.sampled_from(
                [14, 30, 7, 0, -1]))),
            **({"criteria_ref": criteria} if criteria else {})}
    if name == "RectifyHazardOnSpot":
        return {**target, "rectified_at": hazard.discovered_at}
    if name == "SubmitRectificationPlan":
        missing = draw(st.sampled_from([None, None, None, "funds", "contingency_plan"]))
        plan = {**FULL_PLAN, "deadline": deadline}
        return {**target, "plan": {k: v for k, v in plan.items() if k != missing}}
    if name in ("ReviewRectificationPlan", "DecideDeadlineExtension", "VerifyHazard"):
        yes = draw(st.sampled_from([True, True, False]))
        key = "passed" if name == "VerifyHazard" else "approve"
        stamp = {"stamp": "verified_at"} if name == "VerifyHazard" else {}
        return {**target, key: yes, **stamp, **({} if yes else {"opinion": "不符合要求"})}
    if name == "RegradeHazard":
        return {**target, "to_grade": draw(st.sampled_from(["general", "major"])),
                "reason": "复核", "criteria_ref": CRITERIA_REF}
    if name == "RequestDeadlineExtension":
        return {**target, "stamp": "requested_at", "reason": "设备到货延迟",
                "new_deadline": deadline + timedelta(days=draw(st.integers(1, 30)))}
    if name == "ListHazard":
        return {**target, "level": draw(st.sampled_from(["county", "county", "city"])),
                "deadline": hazards.clock.now.date() + timedelta(days=30)}
    if name == "TransferHazard":
        to = draw(st.sampled_from(["county_chem", "town", "county_ema", "other_town"]))
        return {**target, "to_org_id": hazards.world.orgs[to], "reason": "移交"}
    if name == "CloseEnterprise":
        return {"enterprise_id": hazard.enterprise_id, "on": hazards.clock.now.date(),
                "reason": "关闭取缔"}
    if name == RELAPSE:
        return {"hazard_id": uuid4(), "relapse_of": hazard.id, "unit_code": hazard.unit_code,
                "sector": hazard.sector, "channel": "supervisory_inspection",
                "description": "回头看发现复发", "category": "unsafe_condition",
                "stamp": "discovered_at"}
    extra = {
        "VoidHazard": {"reason": "重复录入"},
        "ReportRectificationProgress": {"percent": draw(st.integers(0, 100))},
        "DeclareRectified": {"stamp": "completed_at"},
        "CloseHazard": {"stamp": "closed_at"},
    }
    return {**target, **extra.get(name, {})}


def test_random_command_sequences_keep_every_hazard_legal():
    reached: set[tuple[str, str | None, bool]] = set()
    with hazards_in_new_world("sqlite:///:memory:") as hazards:
        run_state_machine_as_test(lambda: HazardLifecycle(hazards, reached),
                                  settings=settings.get_profile("hazard-lifecycle"))
    assert {state for state, _, _ in reached} == {state.value for state in HazardState}
    assert ("CLOSED", "major", True) in reached, "no listed major hazard was ever closed"
