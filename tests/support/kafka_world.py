"""Event histories for the Kafka tests, recorded through the application service on the small
world of tests/builders.py: `varied_history` exercises most event types (nested records,
dates, enums, lists, a unit recode) in both counties; `hazard_traffic` adds volume."""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.commands import parse_command
from tests.support.builders import ADMIN, World


def varied_history(world: World) -> None:
    """Hazards through their lifecycles, inspections, enforcement, risk, measures, tasks,
    public reports and a village recode, in both counties and at city level."""
    do = world.do
    clock = world.app.clock

    def tick() -> str:
        """Move the clock on an hour; the new time, for steps that need an explicit one."""
        return clock.advance(hours=1).isoformat()  # type: ignore[attr-defined]

    chem, shop, mine = (world.enterprises[n] for n in ("chem", "shop", "mine"))

    general = uuid4()
    do("ReportHazard", "town", hazard_id=general, enterprise_id=chem,
       channel="supervisory_inspection", discovered_at="2021-03-01T08:30",
       description="消防通道堵塞", category="unsafe_condition", location_detail="二号库房")
    do("ConfirmHazard", "town", hazard_id=general, grade="general", treatment="deadline",
       deadline="2021-03-20", notice_no="整改〔2021〕1号")
    do("SubmitRectificationPlan", "chem", hazard_id=general, plan={"measures": "清理通道"})
    do("ReportRectificationProgress", "chem", hazard_id=general, percent=50, note="清理中")
    do("DeclareRectified", "chem", hazard_id=general, completed_at=tick(), evidence="照片")
    do("VerifyHazard", "town", hazard_id=general, passed=True, verified_at=tick())
    do("CloseHazard", "town", hazard_id=general, closed_at=tick())

    major = uuid4()
    do("ReportHazard", "county_chem", hazard_id=major, enterprise_id=chem,
       channel="enforcement_inspection", discovered_at="2021-03-01T08:40",
       description="储罐区无可燃气体报警", category="management_defect", proposed_grade="major")
    do("ConfirmHazard", "county_chem", hazard_id=major, grade="major", treatment="deadline",
       deadline="2021-04-30", criteria_ref="工贸企业重大事故隐患判定标准 第四条")
    do("SubmitRectificationPlan", "chem", hazard_id=major, plan={
        "measures": "加装报警装置", "responsible_org": "设备部", "responsible_person": "李四",
        "funds": {"amount": "12.5", "unit": "万元"}, "funds_source": "企业自筹",
        "deadline": "2021-04-15", "contingency_plan": "停用储罐", "interim_controls": "专人巡查"})
    do("ReviewRectificationPlan", "county_chem", hazard_id=major, approve=True, opinion="同意")
    do("ListHazard", "county_gov", hazard_id=major, level="county", deadline="2021-04-30",
       notice_no="挂牌〔2021〕2号")

    voided = uuid4()
    do("ReportHazard", "village", hazard_id=voided, enterprise_id=chem,
       channel="photo_report", discovered_at="2021-03-01T08:50", description="重复上报",
       category="unsafe_behaviour")
    do("VoidHazard", "town", hazard_id=voided, reason="重复", duplicate_of=general)

    inspection = uuid4()
    do("PlanInspection", "county_ema", inspection_id=inspection, inspection_type="double_random",
       team=[{"person_id": "a", "name": "王五", "role": "leader", "rank": "county_level"}],
       targets=[chem, shop], date_from="2021-03-01", date_to="2021-03-02")
    do("RecordInspectionVisit", "county_ema", inspection_id=inspection, enterprise_id=chem,
       visited_at=tick(), findings_count=2, signatures=["王五", "赵六"])
    do("CloseInspection", "county_ema", inspection_id=inspection, closed_at=tick(),
       hazard_ids=[general])

    do("SubmitSelfInspection", "shop", enterprise_id=shop,
       period="2021-02", submitted_at="2021-03-01T08:00", signed_by_principal=True,
       published_on="2021-03-01")
    do("IdentifyRiskPoint", "chem", enterprise_id=chem,
       description="储罐区", likelihood=3, severity=5, level="red", identified_on="2021-01-10")

    case = uuid4()
    do("OpenEnforcementCase", "county_ema", case_id=case, enterprise_id=chem,
       case_no="汉应急罚〔2021〕3号", related_hazard_ids=[major], opened_on="2021-03-01")
    do("ImposeFine", "county_ema", case_id=case, amount={"amount": "3", "unit": "万元"},
       decided_on="2021-03-01")

    measure = uuid4()
    do("PlanMeasure", "county_ema", measure_id=measure, title="危化品储罐专项整治方案",
       kind="plan", planned_date="2021-06-30", related_hazard_ids=[major])
    do("IssueMeasure", "county_ema", measure_id=measure, doc_no="汉安办〔2021〕5号",
       issued_on="2021-03-01")

    report = uuid4()
    do("ReceivePublicReport", "town", report_id=report, unit_code="610902101202",
       channel="hotline", content="商店私拉电线")
    do("VerifyPublicReport", "town", report_id=report, is_true=False, reason="未发现")

    other = uuid4()
    do("ReportHazard", "other_county_ema", hazard_id=other, enterprise_id=mine,
       channel="enforcement_inspection", discovered_at="2021-03-01T08:55",
       description="尾矿库排洪设施损坏", category="unsafe_condition")
    do("ConfirmHazard", "other_county_ema", hazard_id=other, grade="general",
       treatment="immediate")

    task_list = uuid4()
    do("PublishTaskList", "city_office", list_id=task_list, doc_no="安市安委办发〔2021〕3号",
       title="2021年安全生产工作任务清单", issuer="安康市安委办", issued_on="2021-01-18")
    do("DefineTask", "city_office", task_list_id=task_list, task_no=32,
       requirement="按时报送一报表两清单", responsible_units=["各县区"], deadline_text="长期坚持")
    do("RecodeAdminUnit", ADMIN,
       code="610902101202", new_code="610902101203", valid_from="2021-03-01")


def hazard_traffic(world: World, count: int) -> list[UUID]:
    """`count` general hazards reported, confirmed and progressed in both counties, applied in
    batches (three events per hazard)."""
    ids = [uuid4() for _ in range(count)]
    targets = [("chem", "town"), ("mine", "other_county_ema")]
    commands = []
    for n, hazard_id in enumerate(ids):
        enterprise, org = targets[n % 2]
        commands += [
            (org, {"command": "ReportHazard", "hazard_id": str(hazard_id),
                   "enterprise_id": str(world.enterprises[enterprise]),
                   "channel": "supervisory_inspection", "discovered_at": "2021-03-01T08:00",
                   "description": f"隐患 {n}", "category": "unsafe_condition"}),
            (org, {"command": "ConfirmHazard", "hazard_id": str(hazard_id), "grade": "general",
                   "treatment": "deadline", "deadline": "2021-03-31"}),
            (enterprise, {"command": "SubmitRectificationPlan", "hazard_id": str(hazard_id),
                          "plan": {"measures": f"整改 {n}"}}),
        ]
    for result in world.app.execute_batch(
            (number, world.issuer(by), parse_command(c))
            for number, (by, c) in enumerate(commands, start=1)):
        assert not result.rejections, result.rejections
    return ids
