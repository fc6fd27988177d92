"""The metric catalogue of the statistical report form (统计报表, DOMAIN §7.2): the one place
to add or change a metric.

Each metric counts (or sums, or counts distinct) the rows of one *family* — hazards,
the enterprise base, inspection visits, inspections, enforcement acts, measures — that
satisfy `when`, a SQL condition over the family's columns (see `projections.stats`):

- column `month` (本月): rows whose `on` instant falls in the period;
- column `cumulative` (累计): rows whose `on` instant falls between the programme start
  and the period end;
- column `at_end` (期末): rows satisfying `when` at the period end (stocks: open,
  overdue, 存量), with no window.

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
CHANNEL_GROUPS = {"self": "企业自查发现", "department": "部门检查发现",
                  "public": "群众举报查实", "other": "其他渠道发现"}
BASE_CLASSES = {"high_risk": "高危企业", "above_size": "规模以上企业",
                "crowded": "人员密集场所", "other": "其他"}

CATALOGUE: tuple[Metric | Rate, ...] = (
    # A. coverage and self-inspection
    Metric("A1", "应报企业数", "enterprises in the reporting base at period start", "家",
           "base", columns=("month",)),
    *(Metric(f"A1.{key}", f"应报企业数·{name}", f"base: {key}", "家", "base",
             f"base_class = '{key}'", columns=("month",)) for key, name in BASE_CLASSES.items()),
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
             f"{FOUND} AND channel_group = '{key}'") for key, name in CHANNEL_GROUPS.items()),
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
    Metric("F2", "检查企业数达标的检查次数", "inspections covering at least 5 enterprises", "次",
           "inspections", "targets >= 5", "at", levels=TOWN_UP),
    Metric("F3", "“121”合规检查次数", "inspections with a 121 team", "次", "inspections",
           "team_121", "at", levels=TOWN_UP),
    Metric("F6", "领导带队检查次数", "inspections led by a leader", "次", "inspections", "led",
           "at", levels=TOWN_UP),
)

SECTOR_COLUMNS = {  # sector breakdown (条): column → (hazard condition, window column or None)
    "found_month": (FOUND, "month"),
    "found_cumulative": (FOUND, "cumulative"),
    "major_month": (f"{FOUND} AND is_major", "month"),
    "major_cumulative": (f"{FOUND} AND is_major", "cumulative"),
    "open_at_end": ("is_open", None),
}


@cache
def metrics_for(level: Level) -> tuple[Metric | Rate, ...]:
    return tuple(m for m in CATALOGUE if level in m.levels)
