"""The submission as the printed form officials sign: the workbook read back by openpyxl
(an independent reader) for its layout, the PDF read back by pypdf for its text, the same
bytes for the same document, and names — never ids — wherever a person reads."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from domain.base import Level
from infra.intake.service import Zhibao
from infra.reporting.forms import Column, FormSettings, Table, build_form, width_of
from infra.reporting.pdf import font_path, render_pdf
from infra.reporting.reporter import Reporter
from infra.reporting.xlsx import render_workbook
from tests.conftest import FakeClock
from tests.support.march_world import CITY, COUNTY, OTHER_COUNTY, TOWN, March, at, file

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHEETS = ["报表", "全国月报表", "行业领域", "下级单位", "问题隐患清单", "制度措施清单"]


@pytest.fixture
def town(march: March, reporter: Reporter, clock: FakeClock) -> Any:
    at(clock, "2021-04-03T10:00")
    return reporter.report(TOWN, "2021-03")


def document_of(done: Any) -> dict[str, Any]:
    return orjson.loads(file(done, ".json").read_bytes())


def test_the_workbook_is_a_print_ready_statistical_form(town: Any) -> None:
    book = load_workbook(file(town, ".xlsx"))
    assert book.sheetnames == SHEETS
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape"
        assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert (sheet.page_setup.fitToWidth or 1) == 1  # absent means 1 (ECMA-376)
        assert sheet.print_area is not None and sheet.print_title_rows is not None
        assert sheet.freeze_panes is not None
        title = min(sheet.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col))
        assert (title.min_row, title.max_row, title.min_col) == (1, 1, 1)
        assert title.max_col == sheet.max_column
        header = " | ".join(str(c.value) for r in sheet.iter_rows(min_row=2, max_row=3)
                            for c in r if c.value)
        for expected in ("填报单位（盖章）：关庙镇（610902101000）", "表    号：", "制定机关：",
                         "批准文号：", "有效期至：", "报告期：2021年3月", "计量单位："):
            assert expected in header, (sheet.title, expected)
    report = book["报表"]
    assert report["A1"].value == "安全生产隐患排查治理情况统计表"
    assert report.page_setup.fitToHeight == 2  # the report form prints on ≤ 2 pages
    assert book["问题隐患清单"].page_setup.fitToHeight == 0  # lists: one page wide, any length
    header_row = next(r for r in report.iter_rows() if r[0].value == "指标代码")
    assert [c.value for c in header_row] == ["指标代码", "指标名称", "计量单位", "本月", "累计",
                                           "期末"]
    assert header_row[0].font.b and header_row[0].border.top.style == "thin"
    assert report.print_title_rows == f"${header_row[0].row}:${header_row[0].row}"
    rows = {r[0].value: r for r in report.iter_rows(min_row=header_row[0].row + 1)
            if r[0].value}
    assert rows["B1"][3].value == 3 and rows["B1"][3].number_format == "#,##0"
    assert rows["B4"][3].value == pytest.approx(0.3333)
    assert rows["B4"][3].number_format == "0.00%"
    assert rows["D3"][3].value == 2 and rows["D3"][3].number_format == "#,##0.00"
    assert rows["D3"][2].value == "万元"
    assert rows["A1.above_size"][0].value == "A1.above_size"  # whole codes
    signature = [c.value for r in report.iter_rows() for c in r if c.value]
    assert any("单位负责人" in str(v) and "报出日期" in str(v) for v in signature)


def test_every_column_is_as_wide_as_its_content(town: Any) -> None:
    """Columns fit their values (Chinese counted double); long text columns wrap instead."""
    form = build_form(document_of(town), FormSettings())
    book = load_workbook(file(town, ".xlsx"))
    for table in form.tables:
        sheet = book[table.sheet]
        widths = {index: dimension.width for dimension in sheet.column_dimensions.values()
                  for index in range(dimension.min, dimension.max + 1)}  # ranges of columns
        for index, column in enumerate(table.columns):
            width = widths[index + 1]
            assert width >= column.width
            if not column.wrap:
                for row in table.rows:
                    if not isinstance(row, list | tuple):
                        continue
                    assert width_of(row[index]) <= width, (table.sheet, column.header, row)


def test_the_pdf_shows_the_form_with_the_json_figures(town: Any) -> None:
    document = document_of(town)
    pdf = PdfReader(file(town, ".pdf"))
    text = "\n".join(page.extract_text(extraction_mode="layout") for page in pdf.pages)
    flat = re.sub(r"\s+", "", text)
    for expected in ("安全生产隐患排查治理情况统计表", "关庙镇", "610902101000", "2021年3月",
                     "工矿商贸企业安全生产事故隐患排查治理情况月报表", "问题隐患清单",
                     "制度措施清单", "单位负责人"):
        assert expected in flat, expected
    figures = {row["code"]: row for row in document["statistics"]}
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    assert lines["B1"][3:] == [str(figures["B1"]["month"]), str(figures["B1"]["cumulative"]),
                               "—"]
    assert lines["B4"][3:5] == [f"{figures['B4']['month']}%", f"{figures['B4']['cumulative']}%"]
    assert lines["B6"][3:] == ["—", "—", str(figures["B6"]["at_end"])]
    assert lines["D3"][2:5] == ["万元", "2.00", "2.00"]  # 2万元, two decimals
    fonts = [font for page in pdf.pages for font in page["/Resources"]["/Font"].values()]
    descriptors = [f.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                   if "/DescendantFonts" in f.get_object()
                   else f.get_object().get("/FontDescriptor") for f in fonts]
    assert all(d is not None and "/FontFile2" in d.get_object() for d in descriptors)


def test_the_report_form_fits_two_pages(town: Any) -> None:
    pdf = PdfReader(file(town, ".pdf"))
    pages = [re.sub(r"\s+", "", page.extract_text()) for page in pdf.pages]
    report = [i for i, page in enumerate(pages) if "安全生产隐患排查治理情况统计表" in page]
    national = next(i for i, page in enumerate(pages) if "月报表" in page and i > 0)
    assert report[0] == 0 and national <= 2 and len(report) <= 2
    assert "单位负责人" in pages[national - 1]  # the signature closes the report form
    assert all(pdf.pages[i].mediabox.width > pdf.pages[i].mediabox.height
               for i in range(len(pages)))  # landscape


def test_the_same_document_renders_the_same_bytes(town: Any, app: Zhibao) -> None:
    form = build_form(document_of(town), FormSettings())
    font = font_path(app.settings.pdf_font)
    assert render_pdf(form, font, "x") == render_pdf(form, font, "x")
    assert render_workbook(form, "x") == render_workbook(form, "x")
    sums = dict(reversed(line.split("  ")) for line in
                file(town, ".sha256").read_text().splitlines())
    for path in town.files[:-1]:
        assert sums[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sums["v1.json"] == town.sha256


def test_the_pages_are_written_as_reportlab_writes_them(town: Any, app: Zhibao,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages written from the first one's dictionary are what ReportLab's own code
    writes."""
    import infra.reporting.pagedicts as pagedicts

    form = build_form(document_of(town), FormSettings())
    font = font_path(app.settings.pdf_font)
    like_the_first = []
    monkeypatch.setattr(pagedicts.LikePage, "__init__", spying(pagedicts.LikePage.__init__,
                                                               like_the_first))
    ours = render_pdf(form, font, "x")
    assert like_the_first  # pages were written from the first one's text
    monkeypatch.setattr(pagedicts, "write_like_the_first", lambda document: None)
    assert len(PdfReader(io.BytesIO(ours)).pages) > 2
    assert render_pdf(form, font, "x") == ours


def spying(method: Any, calls: list[Any]) -> Any:
    def spy(self: Any, *args: Any) -> None:
        calls.append(args)
        method(self, *args)
    return spy


RENDER_ALONE = """
import hashlib, sys
from pathlib import Path
import orjson
from infra.reporting.forms import FormSettings, build_form
from infra.reporting.pdf import render_pdf
from infra.reporting.xlsx import render_workbook
form = build_form(orjson.loads(Path(sys.argv[1]).read_bytes()), FormSettings())
print(hashlib.sha256(render_pdf(form, Path(sys.argv[2]), "x")).hexdigest(),
      hashlib.sha256(render_workbook(form, "x")).hexdigest())
"""


def test_a_form_is_the_same_after_others_in_the_process(march: March, reporter: Reporter,
                                                      clock: FakeClock, app: Zhibao) -> None:
    """What a render worker keeps across documents (lines' operators, rows and their runs,
    the font's shared glyphs) never changes a form: after other units' forms it has the
    bytes a fresh process gives it."""
    at(clock, "2021-04-03T10:00")
    font = font_path(app.settings.pdf_font)
    done = [reporter.report(code, "2021-03") for code in (COUNTY, TOWN, OTHER_COUNTY, CITY)]
    for before in done[:-1]:
        form = build_form(document_of(before), FormSettings())
        render_pdf(form, font, "x"), render_workbook(form, "x")
    last = build_form(document_of(done[-1]), FormSettings())
    here = (f"{hashlib.sha256(render_pdf(last, font, 'x')).hexdigest()} "
            f"{hashlib.sha256(render_workbook(last, 'x')).hexdigest()}")
    alone = subprocess.run([sys.executable, "-c", RENDER_ALONE, str(file(done[-1], ".json")),
                            str(font)], capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == here


def test_a_long_table_runs_on_under_its_header(town: Any, app: Zhibao) -> None:
    """A table longer than a page breaks between rows, never inside one, its column headers
    repeated above the rows on every page; every page is headed with the unit and numbered,
    and the document's properties say what it is."""
    form = build_form(document_of(town), FormSettings())
    rows = [[f"R{n:03d}", f"开始{n:03d}" + "排查整改记录" * 20 + f"结束{n:03d}"]
            for n in range(150)]  # each row's text wraps onto two lines
    long = Table("长表", "长表标题", (Column("序号", 6), Column("内容摘要", 40, wrap=True)), rows)
    pdf = PdfReader(io.BytesIO(render_pdf(replace(form, tables=(form.tables[0], long)),
                                          font_path(app.settings.pdf_font), "长表说明")))
    pages = [re.sub(r"\s+", "", page.extract_text()) for page in pdf.pages]
    runs_on = [page for page in pages if re.search(r"R\d{3}", page)]
    assert len(runs_on) >= 3 and "长表标题" in runs_on[0]
    assert not any("长表标题" in page for page in runs_on[1:])
    printed = []
    for page in runs_on:
        assert "序号" in page and "内容摘要" in page
        codes = re.findall(r"R(\d{3})", page)
        assert codes == re.findall(r"开始(\d{3})", page) == re.findall(r"结束(\d{3})", page)
        printed += codes
    assert printed == [f"{n:03d}" for n in range(150)]
    for number, page in enumerate(pages, start=1):
        assert f"第{number}页" in page and "关庙镇" in page
    assert (pdf.metadata.title, pdf.metadata.author, pdf.metadata.subject,
            pdf.metadata.creator) == (form.title, "zhibao", "长表说明", "zhibao")


def test_names_stand_where_a_person_reads(town: Any) -> None:
    """发现单位 of a self-found hazard is the enterprise's name; no cell shows an id."""
    book = load_workbook(file(town, ".xlsx"))
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and UUID.search(value)), (sheet.title, row)
    text = "".join(page.extract_text() for page in PdfReader(file(town, ".pdf")).pages)
    assert not UUID.search(re.sub(r"\s+", "", text))


def test_form_settings_fill_the_header_block(town: Any) -> None:
    form = build_form(document_of(town), FormSettings(
        "安监统01表", "某省应急管理厅", "某统制〔2021〕1号", "2023年12月"))
    book = load_workbook(io.BytesIO(render_workbook(form, "x")))
    cells = " ".join(str(c.value) for r in book["报表"].iter_rows(max_row=3) for c in r
                     if c.value)
    for expected in ("安监统01表", "某省应急管理厅", "某统制〔2021〕1号", "2023年12月"):
        assert expected in cells
    assert datetime(2021, 3, 31) == book.properties.created


def test_a_draft_says_so_on_every_table(march: March, reporter: Reporter,
                                        clock: FakeClock) -> None:
    at(clock, "2021-04-03T10:00")
    done = reporter.report(TOWN, "2021-04", draft=True)
    book = load_workbook(file(done, ".xlsx"))
    for sheet in book.worksheets:
        assert any("草稿" in str(c.value) for r in sheet.iter_rows(max_row=5) for c in r)
    assert "草稿" in PdfReader(file(done, ".pdf")).pages[0].extract_text()


def test_worker_processes_render_the_same_bytes(town: Any, app: Zhibao,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The cascade renders many forms in worker processes: byte for byte what this
    process renders."""
    import infra.reporting.render as rendering

    jobs = [rendering.Job(document_of(town), f"v1; copy {n}") for n in range(3)]
    font = font_path(app.settings.pdf_font)
    inline = rendering.Renderer(FormSettings(), font, 1).render(jobs)
    monkeypatch.setattr(rendering, "IN_WORKERS", 1)
    pool = rendering.Renderer(FormSettings(), font, 2)
    try:
        assert pool.render(jobs) == inline
    finally:
        pool.close()
    assert inline[0][".pdf"] != inline[1][".pdf"]  # (their properties say which copy)


def test_workers_are_made_ready_only_for_enough_forms(town: Any, app: Zhibao,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A cascade starts its workers while it counts the facts — only when enough forms will
    go to them; once warm, they render what this process renders."""
    import infra.reporting.render as rendering

    jobs = [rendering.Job(document_of(town), "v1")]
    font = font_path(app.settings.pdf_font)
    monkeypatch.setattr(rendering, "IN_WORKERS", 2)
    pool = rendering.Renderer(FormSettings(), font, 2)
    try:
        pool.warm(1)
        assert pool._pool is None  # one form is rendered here, with no worker started
        pool.warm(2)
        assert pool._pool is not None
        assert pool.render(jobs) == rendering.Renderer(FormSettings(), font, 1).render(jobs)
    finally:
        pool.close()


def test_once_the_workers_run_a_single_form_goes_to_them(town: Any, app: Zhibao,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The city alone at its level renders in the running workers, not in this process
    (which would first load the font while the workers sat idle)."""
    import infra.reporting.render as rendering

    jobs = [rendering.Job(document_of(town), f"v1; copy {n}") for n in range(2)]
    monkeypatch.setattr(rendering, "IN_WORKERS", 2)
    pool = rendering.Renderer(FormSettings(), font_path(app.settings.pdf_font), 2)
    try:
        first = pool.render(jobs)  # starts the workers

        def in_this_process(*args: Any) -> bytes:
            raise AssertionError("rendered in this process")

        monkeypatch.setattr(rendering, "render_pdf", in_this_process)  # (not the workers')
        assert pool.render(jobs[:1]) == first[:1]
    finally:
        pool.close()


def test_a_hazards_row_is_laid_out_once_in_a_cascade(march: March, reporter: Reporter,
                                                     clock: FakeClock, app: Zhibao,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A hazard's row stands in its village's, town's and county's lists: the village
    lays it out, and its parents take it from the renderer's shelf, so each row is laid
    out once (the city lists the major ones alone, and lays them out itself). Every form
    is still the same bytes as when it is rendered alone."""
    import infra.reporting.pdf as pdf
    import infra.reporting.render as rendering
    from infra.reporting.forms import HAZARD_COLUMNS

    laid_out: list[tuple[str, ...]] = []
    cells = pdf._cells

    def counting(texts: tuple[str, ...], *args: Any) -> Any:
        if len(texts) == len(HAZARD_COLUMNS) - 1:  # a hazard's row but its 序号
            laid_out.append(texts)
        return cells(texts, *args)

    monkeypatch.setattr(pdf, "_cells", counting)
    at(clock, "2021-04-06T10:00")
    done = reporter.cascade("2021-03")

    documents = {d.unit_code: document_of(d) for d in done}
    below_city = {row["hazard_id"] for d in done if d.level != Level.CITY
                  for row in documents[d.unit_code]["hazard_list"]}
    in_city = [row for d in done if d.level == Level.CITY
               for row in documents[d.unit_code]["hazard_list"]]
    listed = sum(len(document["hazard_list"]) for document in documents.values())
    assert below_city and listed >= 3 * len(below_city)  # (each in three lists at least)
    assert len(laid_out) == len(below_city) + len(in_city)

    alone = rendering.Renderer(FormSettings(), font_path(app.settings.pdf_font), 1)
    try:
        for d in done:
            job = rendering.Job(documents[d.unit_code],
                                f"v{d.version}; sha256 {d.sha256} of v{d.version}.json")
            assert alone.render([job])[0][".pdf"] == file(d, ".pdf").read_bytes()
    finally:
        alone.close()


def test_rows_left_unreadable_on_the_shelf_are_laid_out_again(town: Any, app: Zhibao,
                                                              tmp_path: Path) -> None:
    """Its children's rows left unreadable on the shelf (a process killed as it wrote) are
    laid out again by the parent: the same form, never an error, and the shelf cleared."""
    from infra.reporting.render import Job, render

    document = document_of(town)
    children = [child["unit_code"] for child in document["children"]]
    shelf, empty = tmp_path / "shelf", tmp_path / "empty"
    shelf.mkdir()
    empty.mkdir()
    for code in children:
        (shelf / code).write_bytes(b"\x80\x05 cut off")
    font = font_path(app.settings.pdf_font)
    job = Job(document, "v1")

    assert render(job, FormSettings(), font, shelf) == render(job, FormSettings(), font, empty)
    assert children and list(shelf.iterdir()) == []
