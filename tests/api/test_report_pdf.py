"""The monthly service report as PDF (api/report_pdf.py) from hand-built documents, read back with pypdf: the
figures, the charts' labels, the analysis and measures; the internal note only in the internal copy; an empty month
and a very long analysis do not break it."""
from __future__ import annotations

import copy
import re
from io import BytesIO

from pypdf import PdfReader

from api.report_pdf import monthly_report_pdf
from tests.api.report_documents import DOCUMENT, empty_figures, management_document
from tests.api.test_pdfs import pdf_text, squeeze

NOTE = "INTERNAL-ONLY-7731"


def test_the_customer_copy_has_the_figures_and_texts_but_not_the_internal_note() -> None:
    text = pdf_text(monthly_report_pdf(DOCUMENT))
    for expected in ("月度服务报告", "Monthlyservicereport", "华东电网信息中心", "2026年11月", "YB-2026-000003",
                     "新建工单", "23", "92.1%",  # SLA met over all clocks: 70 of 76
                     "95.7%", "84.2%", "93.8%",  # triage and resolve this month, resolve the month before
                     "故障", "Fault", "一级Severity1", "电话Phone",  # the chart's bars and the side tables
                     "AC-2026-000231", "数据库连接池耗尽", "AC-2026-000250", "性能Performance", "printing", "调度管理",
                     "91.7%", "88.0", "目标Target85", "目标Target90", "XJ-2026-000007", "新增科室月度报表",
                     *DOCUMENT["analysis"].splitlines(), *DOCUMENT["measures"].splitlines(), "分析", "改进措施"):
        assert squeeze(expected) in text, expected
    assert NOTE not in text and "内部备注" not in text and "Internalcopy" not in text and "实时数据" not in text
    assert "各客户情况" not in text  # only the management report has the table per customer


def test_the_internal_copy_has_the_internal_note() -> None:
    text = pdf_text(monthly_report_pdf(DOCUMENT, internal=True))
    assert NOTE in text and "内部备注" in text and "Internalcopy:notforthecustomer" in text
    assert all(squeeze(line) in text for line in DOCUMENT["analysis"].splitlines())


def test_the_management_report_lists_every_customer() -> None:
    text = pdf_text(monthly_report_pdf(management_document(), internal=True))
    assert "月度服务报告（内部管理）" in text and "全部客户Allcustomers" in text
    assert "各客户情况Percustomer" in text and "青山医院" in text and "DemoCustomer" in text
    assert "尚未填写" in text  # nobody writes an analysis of the management report


def test_an_empty_month_renders_dashes_instead_of_charts() -> None:
    document = {"customer": "青山医院", "month": "2026-11", "number": None, "figures": empty_figures(),
                "analysis": None, "measures": None, "internal_note": None, "reviewed_by": None, "sent_at": None,
                "live": True}
    content = monthly_report_pdf(document, internal=True)
    text = pdf_text(content)
    assert "青山医院" in text and "本月没有新工单" in text and "本月无超时" in text and "未发送Notsentyet" in text
    assert "No SLA clock stopped" in "".join(p.extract_text() for p in PdfReader(BytesIO(content)).pages)
    assert "尚未填写Notwrittenyet" in text and "无None" in text and "以下为实时数据" in text
    assert re.search(r"\d\.\d%", text) is None  # no rate was measured, so none is shown


def test_a_long_analysis_and_many_breaches_flow_over_pages() -> None:
    document = copy.deepcopy(DOCUMENT)
    document["analysis"] = "本月分析内容较长，" * 1500 + "ANALYSIS-END"
    document["measures"] = "\n".join(f"第 {n} 项措施 Measure {n}" for n in range(1, 151)) + "\nMEASURES-END"
    breach = {"number": "AC-2026-000300", "title": "长标题" * 80, "kind": "resolve",
              "at": "2026-11-12T07:30:00+00:00", "cause": "原因很长" * 2000}
    document["figures"]["breaches"] = [breach] * 40
    content = monthly_report_pdf(document)
    pages = PdfReader(BytesIO(content)).pages
    assert len(pages) > 8
    text = pdf_text(content)
    assert "ANALYSIS-END" in text and "MEASURES-END" in text and "第150项措施" in text
    assert text.count("AC-2026-000300") == 40
    assert f"第{len(pages)}页/共{len(pages)}页" in text
