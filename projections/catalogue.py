"""The metric catalogue of the statistical report form (统计报表, DOMAIN §7.2): the one place
to add or change a metric.

Each metric counts (or sums, or counts distinct) the rows of one *family* — hazards,
the enterprise base, inspection visits, inspections, enforcement acts, measures — that
satisfy `when`, a SQL condition over the family's columns (see `projections.stats`):

- column `month` (本月): rows whose `on` instant falls in the period;
- column `cumulative` (累计): rows whose `on` instant falls between the programme start
  and the period end;
- column `at_end` (期末): rows satisfying `when` at the period end (stocks: open,
  overdue, 存量), with no window;
- column `year` (本年累计, the national table only): rows whose `on` instant falls between
  1 January of the report year and the period end.

A period may be a month, a quarter or a year: `month` is then the period's own window
(本月, 本季, 本年). Inspections count when their visits happened: `on` of the inspections
family is the first visit (`InspectionConducted`), not the plan.

Every family row is evaluated as it stood at the period end, as known at the cut-off: the
grade and deadline in force then, steps taken before it. Counts and sums are added up the
unit tree; distinct counts are re-counted over the union at each level; rates are
recomputed from the rolled-up numerator and denominator, never averaged (§11.2 rules 3–4).

Not computed, because no event records them: D12 (enforcement staff's on-site time), F4
and F5 (bulletins, listing batches), F7 (principal-led checks), F8 (drills), F9.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from domain.base import Level
from domain.hazards import Channel

ALL_LEVELS = frozenset(Level)
TOWN_UP = frozenset({Level.TOWN, Level.COUNTY, Level.CITY, Level.PROVINCE})
COUNTY_UP = frozenset({Level.COUNTY, Level.CITY, Level.PROVINCE})
FLOWS = ("month", "cumulative")


@dataclass(frozen=True)
class Metric:
    code: str
    name: str  # as on the form
    name_en: str
    measure: str  # unit of measure: 家, 个, 次, 人, 分 (money is kept in integer fen)
    family: str
    when: str = "1 = 1"
    on: str | None = None  # the family's instant column the period window applies to
    columns: tuple[str, ...] = FLOWS
    kind: str = "count"  # count | sum | distinct
    value: str | None = None  # summed expression, or the key counted distinct
    levels: frozenset[Level] = ALL_LEVELS


@dataclass(frozen=True)
class Rate:
    """numerator / denominator × 100, as a decimal string with two places."""

    code: str
    name: str
    name_en: str
    numerator: str
    denominator: str
    columns: tuple[str, ...] = FLOWS
    measure: str = "%"
    levels: frozenset[Level] = ALL_LEVELS


def hazard(code: str, name: str, name_en: str, when: str, on: str | None = "reported_at",
           columns: tuple[str, ...] = FLOWS) -> Metric:
    return Metric(code, name, name_en, "个", "hazards", when, on, columns)


FOUND = "NOT is_void"
LISTING_LEVELS = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级",
                  "town": "乡镇级"}
CHANNEL_GROUPS: dict[str, tuple[str, tuple[Channel, ...]]] = {
    "self": ("企业自查发现", (Channel.SELF_INSPECTION,)),
    "department": ("部门检查发现", (Channel.SUPERVISORY_INSPECTION,
                                    Channel.ENFORCEMENT_INSPECTION, Channel.COVERT_VISIT)),
    "public": ("群众举报查实", (Channel.PUBLIC_REPORT_VERIFIED, Channel.PHOTO_REPORT)),
}
"""B5's split of the hazards found by channel (2023 bulletin); any other channel is 其他."""
BASE_CLASSES: dict[str, tuple[str, str | None]] = {
    "high_risk": ("高危企业", "high_risk"),
    "above_size": ("规模以上企业", "above_designated_size"),
    "crowded": ("人员密集场所", "crowded_place"),
    "other": ("其他", None),
}
"""A1's cuts of the reporting base (Ningbo's), in priority order: an enterprise belongs to
the first class whose flag it has."""
KEY_UNIT_FLAGS = ("high_risk", "major_hazard_installation")
"""重点单位 (A8): high-risk enterprises and major hazard installations."""


def base_class(flags: dict[str, bool]) -> tuple[str, bool]:
    """An enterprise's class in the reporting base and whether it is a key unit, from its
    flags (the fold stores both, so A1 and A8 count what this says)."""
    kind = next(key for key, (_, flag) in BASE_CLASSES.items() if flag is None or flags[flag])
    return kind, any(flags[flag] for flag in KEY_UNIT_FLAGS)


def _channels(channels: tuple[Channel, ...]) -> str:
    return ", ".join(f"'{channel.value}'" for channel in channels)


def channel_condition(group: str) -> str:
    if group in CHANNEL_GROUPS:
        return f"channel IN ({_channels(CHANNEL_GROUPS[group][1])})"
    listed = tuple(channel for _, channels in CHANNEL_GROUPS.values() for channel in channels)
    return f"channel NOT IN ({_channels(listed)})"


_ENDED_CLOSED = "ended AND ended_as IN ('closed', 'on_spot')"
_PLAN = "COALESCE(latest_plan, '') <> ''"
_APPROVED = f"{_PLAN} AND COALESCE(latest_plan_approved, '') = '1'"
HAZARD_CONDITIONS: dict[str, str] = {
    "is_void": "COALESCE(ended AND ended_as = 'voided', FALSE)",
    "is_closed": f"COALESCE({_ENDED_CLOSED}, FALSE)",
    "is_open": "NOT ended",
    # DOMAIN §6.5, as Hazard.is_overdue says it for one aggregate: confirmed, rectifying or
    # rectified-but-unverified, and the day evaluated (:last_day) is past the deadline
    "is_overdue": "COALESCE(confirmed AND NOT verified AND NOT ended "
                  "AND deadline_at < :last_day, FALSE)",
    "is_major": "COALESCE(grade_at = 'major', FALSE)",
    "is_general": "COALESCE(grade_at = 'general', FALSE)",
    "is_listed": "listed",
    "is_listed_open": "listed AND NOT delisted AND NOT ended",
    "is_stock": "reported_at < :stock_end",
    "deadline_in_period": "COALESCE(deadline_at >= :first_day AND deadline_at <= :last_day, "
                          "FALSE)",
    "is_closed_in_time": f"COALESCE({_ENDED_CLOSED} AND ended_on <= deadline_at, FALSE)",
    # 整改方案: a general hazard's plan takes effect when submitted, a major's once approved
    # (DOMAIN §6.2: CONFIRMED → RECTIFYING needs RectificationPlanSubmitted + Approved)
    "plan_approved": f"COALESCE({_APPROVED}, FALSE)",
    "plan_in_force": f"COALESCE(({_PLAN} AND grade_at <> 'major') OR ({_APPROVED}), FALSE)",
    "plan_five_in_place": "COALESCE(latest_plan_complete = '1', FALSE)",
}
"""The conditions the hazard metrics and lists use, each over a hazard as it stood at the
period end (see `projections.stats.hazards_sql`) — every one defined here and only here."""

HAZARD_STATE = f"""CASE
      WHEN ended THEN CASE ended_as WHEN 'on_spot' THEN 'closed' ELSE ended_as END
      WHEN verified THEN 'verified'
      WHEN COALESCE(latest_completed, '') <> '' THEN 'rectified'
      WHEN {HAZARD_CONDITIONS["plan_in_force"]} THEN 'rectifying'
      WHEN confirmed THEN 'confirmed'
      ELSE 'reported' END"""
"""A hazard's state at the period end (DOMAIN §6.1): 整改中 only once its plan is in force."""

CATALOGUE: tuple[Metric | Rate, ...] = (
    # A. coverage and self-inspection
    Metric("A1", "应报企业数", "enterprises in the reporting base at period start", "家",
           "base", columns=("month",)),
    *(Metric(f"A1.{key}", f"应报企业数·{name}", f"base: {key}", "家", "base",
             f"base_class = '{key}'", columns=("month",))
      for key, (name, _) in BASE_CLASSES.items()),
    Metric("A2", "自查企业数", "base enterprises that self-inspected for the period", "家",
           "base", "self_inspected", columns=("month",)),
    Rate("A3", "企业自查率", "self-inspection rate", "A2", "A1", columns=("month",)),
    Metric("A4n", "签字自查企业数", "self-inspections signed by the principal", "家", "base",
           "signed", columns=("month",)),
    Rate("A4", "自查自纠签字率", "signed share of self-inspections", "A4n", "A2",
         columns=("month",)),
    Metric("A5", "检查企业数", "distinct enterprises inspected", "家", "visits", on="at",
           kind="distinct", value="enterprise_id"),
    Metric("A6", "检查企业家次", "inspection visits", "家次", "visits", on="at"),
    Metric("A7", "检查组数", "inspections organised", "次", "inspections", on="at",
           levels=TOWN_UP),
    Metric("A8d", "重点单位数", "key-supervision units in the base", "家", "base", "key_unit",
           columns=("month",), levels=COUNTY_UP),
    Metric("A8n", "重点单位已检查数", "key-supervision units inspected", "家", "base",
           "key_unit AND inspected", columns=("month",), levels=COUNTY_UP),
    Rate("A8", "重点单位检查面", "key-unit inspection coverage", "A8n", "A8d",
         columns=("month",), levels=COUNTY_UP),
    Metric("A9n", "乡镇督查覆盖企业数", "base enterprises covered by town supervision", "家",
           "base", "town_supervised", columns=("month",), levels=TOWN_UP),
    Rate("A9", "督查面", "town supervision coverage", "A9n", "A1", columns=("month",),
         levels=TOWN_UP),
    # B. hazards, all grades
    hazard("B1", "发现隐患数", "hazards found", FOUND),
    *(hazard(f"B5.{key}", f"发现隐患数·{name}", f"found via {key} channels",
             f"{FOUND} AND {channel_condition(key)}")
      for key, name in {**{k: n for k, (n, _) in CHANNEL_GROUPS.items()},
                        "other": "其他渠道发现"}.items()),
    hazard("B2", "一般隐患数", "general hazards found", f"{FOUND} AND is_general"),
    hazard("B2c", "一般隐患已整改数", "general hazards found and closed by period end",
           f"{FOUND} AND is_general AND is_closed"),
    Rate("B2r", "一般隐患整改率", "general hazard rectification rate", "B2c", "B2"),
    hazard("B1c", "已整改隐患数", "hazards found and closed by period end",
           f"{FOUND} AND is_closed"),
    hazard("B3", "未整改数", "hazards found and not closed by period end",
           f"{FOUND} AND NOT is_closed"),
    Rate("B4", "隐患整改率", "hazard rectification rate", "B1c", "B1"),
    hazard("B6", "期末未整改隐患数", "hazards open at period end", "is_open", None, ("at_end",)),
    hazard("B7", "逾期未整改隐患数", "hazards overdue at period end", "is_overdue", None,
           ("at_end",)),
    # C. major hazards and listing
    hazard("C1", "重大隐患数", "major hazards found", f"{FOUND} AND is_major"),
    hazard("C2", "重大隐患已整改数", "major hazards found and closed by period end",
           f"{FOUND} AND is_major AND is_closed"),
    Rate("C2r", "重大隐患整改率", "major hazard rectification rate", "C2", "C1"),
    hazard("C3", "到期未整改重大隐患数", "major hazards overdue at period end",
           "is_major AND is_overdue", None, ("at_end",)),
    hazard("C4", "挂牌督办数", "hazards listed for supervision", "is_listed", "listed_at"),
    *(hazard(f"C4.{key}", f"挂牌督办数·{name}", f"listed at {key} level",
             f"is_listed AND listing_level = '{key}'", "listed_at")
      for key, name in LISTING_LEVELS.items()),
    hazard("C4e", "期末挂牌督办数", "listed hazards open at period end", "is_listed_open", None,
           ("at_end",)),
    hazard("C5", "挂牌隐患已整改数", "listed hazards closed by period end",
           "is_listed AND is_closed", "listed_at"),
    Rate("C5r", "挂牌整改率", "listed hazard rectification rate", "C5", "C4"),
    hazard("C6", "存量重大隐患数", "major hazards found by the stock cut-off still open",
           "is_major AND is_open AND is_stock", None, ("at_end",)),
    hazard("C7", "增量重大隐患数", "major hazards found after the stock cut-off",
           f"{FOUND} AND is_major AND NOT is_stock"),
    hazard("C8d", "本期到期重大隐患数", "major hazards whose deadline fell in the period",
           "is_major AND NOT is_void AND deadline_in_period", None, ("month",)),
    hazard("C8n", "按期清零重大隐患数", "of them closed on or before the deadline",
           "is_major AND NOT is_void AND deadline_in_period AND is_closed_in_time", None,
           ("month",)),
    Rate("C8", "动态清零率", "dynamic zeroing rate", "C8n", "C8d", columns=("month",)),
    # D. enforcement and accountability
    Metric("D1", "执法检查企业数", "distinct enterprises under enforcement inspection", "家",
           "visits", "inspection_type = 'enforcement'", "at", kind="distinct",
           value="enterprise_id"),
    Metric("D2", "立案数", "enforcement cases opened", "件", "enforcement",
           "action = 'case_opened'", "at"),
    Metric("D3", "罚款金额", "fines imposed (in fen; shown in 万元)", "分", "enforcement",
           "action = 'fine'", "at", kind="sum", value="amount_fen"),
    Metric("D4", "责令停产停业整顿企业数", "enterprises ordered to suspend", "家", "enforcement",
           "action = 'suspension'", "at", kind="distinct", value="enterprise_id"),
    Metric("D5", "暂扣吊销证照数", "licences suspended or revoked", "个", "enforcement",
           "action = 'licence'", "at"),
    Metric("D6", "关闭取缔企业数", "enterprises closed or banned", "家", "enforcement",
           "action = 'closure'", "at", kind="distinct", value="enterprise_id"),
    Metric("D7", "纳入黑名单企业数", "enterprises blacklisted", "家", "enforcement",
           "action = 'blacklist'", "at", kind="distinct", value="enterprise_id"),
    Metric("D8", "约谈次数", "interviews held", "次", "enforcement", "action = 'interview'", "at"),
    *(Metric(f"D8.{key}", f"约谈次数·{name}", f"interviews of {key}s", "次", "enforcement",
             f"action = 'interview' AND detail = '{key}'", "at")
      for key, name in {"official": "官员", "department": "部门", "enterprise": "企业"}.items()),
    Metric("D9", "曝光次数", "public exposures", "次", "enforcement", "action = 'exposure'", "at"),
    Metric("D10", "问责移送人数", "persons referred", "人", "enforcement",
           "action = 'referral'", "at", kind="sum", value="persons"),
    *(Metric(f"D10.{key}", f"问责移送人数·{name}", f"persons referred to {key} organs", "人",
             "enforcement", f"action = 'referral' AND detail = '{key}'", "at", kind="sum",
             value="persons")
      for key, name in {"discipline": "纪检监察", "judicial": "司法机关"}.items()),
    Metric("D11", "零处罚执法单位数", "enforcement bodies inspecting without opening a case",
           "个", "zero_penalty", columns=("month",), kind="distinct", value="org_id"),
    # E. measures
    Metric("E1", "计划制度措施数", "measures planned", "项", "measures", on="planned_at"),
    Metric("E2", "已完成制度措施数", "measures completed", "项", "measures",
           "completed_at IS NOT NULL", "completed_at"),
    Rate("E3", "制度措施完成率", "measure completion rate", "E2", "E1", columns=("cumulative",)),
    # F. process quotas
    Metric("F1", "督查检查次数", "supervisory inspections organised", "次", "inspections",
           "inspection_type <> 'enforcement'", "at", levels=TOWN_UP),
    Metric("F2", "检查企业数达标的检查次数", "inspections that visited at least 5 enterprises",
           "次", "inspections", "enterprises_visited >= 5", "at", levels=TOWN_UP),
    Metric("F3", "“121”合规检查次数", "inspections with a 121 team", "次", "inspections",
           "team_121", "at", levels=TOWN_UP),
    Metric("F6", "领导带队检查次数", "inspections led by a leader", "次", "inspections", "led",
           "at", levels=TOWN_UP),
)

SECTOR_COLUMNS: dict[str, tuple[str, str]] = {
    # the sector breakdown (条): JSON key → (metric code, column), each by the hazard's sector
    "found_month": ("B1", "month"),
    "found_cumulative": ("B1", "cumulative"),
    "major_month": ("C1", "month"),
    "major_cumulative": ("C1", "cumulative"),
    "open_at_end": ("B6", "at_end"),
}

YEAR = "year"
"""The national table's window: from 1 January of the report year to the period end."""


def national(code: str, name: str, name_en: str, when: str) -> Metric:
    return Metric(code, name, name_en, "项", "hazards", when, "reported_at", (YEAR,))


NATIONAL_TABLE: tuple[tuple[str, Metric | Rate], ...] = (
    # DOMAIN §7.3, column by column (JSON key → metric), per industry and in total
    ("enterprises", Metric("N1", "单位（家）", "enterprises of the industry that carried out "
                           "hazard investigation (self-inspection or a government visit)", "家",
                           "investigated", on="at", columns=(YEAR,), kind="distinct",
                           value="enterprise_id")),
    ("general_found", national("N2", "一般隐患排查", "general hazards found", f"{FOUND} AND "
                                                                          "is_general")),
    ("general_closed", national("N3", "一般隐患已整改", "of them closed by period end",
                                f"{FOUND} AND is_general AND is_closed")),
    ("general_rate", Rate("N4", "一般隐患整改率", "general rectification rate", "N3", "N2",
                          (YEAR,))),
    ("major_found", national("N5", "重大隐患排查", "major hazards found", f"{FOUND} AND is_major")),
    ("major_closed", national("N6", "重大隐患已整改销号", "of them closed by period end",
                              f"{FOUND} AND is_major AND is_closed")),
    ("major_rate", Rate("N7", "重大隐患整改率", "major rectification rate", "N6", "N5", (YEAR,))),
    ("major_planned", national("N8", "列入治理计划的重大隐患", "of them with an approved plan",
                               f"{FOUND} AND is_major AND plan_approved")),
    ("major_five_in_place", national("N9", "其中“五到位”", "of them, the plan states all five",
                                     f"{FOUND} AND is_major AND plan_approved "
                                     "AND plan_five_in_place")),
    ("major_listed", national("N10", "挂牌督办", "of them listed by period end",
                              f"{FOUND} AND is_major AND is_listed")),
    ("major_listed_province", national("N11", "其中省级挂牌", "of them listed by the province",
                                       f"{FOUND} AND is_major AND is_listed "
                                       "AND listing_level = 'province'")),
    ("funds_fen", Metric("N12", "治理资金", "funds of the plans in force (in fen; shown in 万元)",
                         "分", "hazards", f"{FOUND} AND plan_in_force", "reported_at", (YEAR,),
                         kind="sum", value="plan_funds_fen")),
)
"""工矿商贸企业安全生产事故隐患排查治理情况月报表 (DOMAIN §7.3), evaluated per industry."""

BY_SECTOR: tuple[tuple[Metric, str], ...] = (
    *((metric, column) for code, column in SECTOR_COLUMNS.values()
      for metric in CATALOGUE if metric.code == code and isinstance(metric, Metric)),
    *((metric, YEAR) for _, metric in NATIONAL_TABLE if isinstance(metric, Metric)),
)
"""Every figure evaluated per sector: one slot each in a unit's sector tallies."""


@cache
def metrics_for(level: Level) -> tuple[Metric | Rate, ...]:
    return tuple(m for m in CATALOGUE if level in m.levels)
