"""Monthly report documents built by hand in the shape of facade.monthly_report (../shared spec: figures_shape),
for the PDF and page tests: a busy month of 华东电网信息中心, the management report, and an empty month."""
from __future__ import annotations

import copy
from typing import Any


def sla(triage: tuple[int, int], response: tuple[int, int], resolve: tuple[int, int],
        callback: tuple[int, int]) -> dict[str, Any]:
    """SLA figures from (met, breached) per clock."""
    def metric(met: int, breached: int) -> dict[str, Any]:
        return {"met": met, "breached": breached, "rate": met / (met + breached) if met + breached else None}

    return {"triage": metric(*triage), "response": metric(*response), "resolve": metric(*resolve),
            "callback": metric(*callback)}


FIGURES: dict[str, Any] = {
    "month": "2026-11", "customer": "华东电网信息中心",
    "period": {"from": "2026-10-31T16:00:00+00:00", "to": "2026-11-30T16:00:00+00:00"},
    "tickets": {"opened": 23, "closed": 19, "open_at_end": 6},
    "by_category": [{"key": "fault", "count": 14}, {"key": "question", "count": 5}, {"key": "change", "count": 3},
                    {"key": "complaint", "count": 1}],
    "by_severity": [{"key": 1, "count": 2}, {"key": 2, "count": 7}, {"key": 3, "count": 5}],
    "by_channel": [{"key": "phone", "count": 11}, {"key": "web", "count": 8}, {"key": "wechat", "count": 4}],
    "sla": sla((22, 1), (20, 2), (16, 3), (12, 0)),
    "sla_previous": sla((18, 0), (17, 3), (15, 1), (10, 1)),
    "times": {"response": {"count": 22, "mean_hours": 0.8, "p90_hours": 1.9},
              "resolve": {"count": 19, "mean_hours": 6.4, "p90_hours": 14.5}},
    "breaches": [{"number": "AC-2026-000231", "title": "调度系统登录超时", "kind": "resolve",
                  "at": "2026-11-12T07:30:00+00:00", "cause": "数据库连接池耗尽，需扩容后才能恢复"},
                 {"number": "AC-2026-000245", "title": "Report export fails", "kind": "response",
                  "at": "2026-11-20T02:10:00+00:00", "cause": ""}],
    "recurrences": [{"number": "AC-2026-000250", "title": "报表导出再次失败", "origin": "AC-2026-000245"}],
    "fault_types": [{"key": "performance", "count": 6}, {"key": "data", "count": 4}, {"key": "printing", "count": 2}],
    "modules": [{"key": "调度管理", "count": 7}, {"key": "报表", "count": 5}],
    "satisfaction": {"count": 12, "average": 4.5, "share_4_5": 0.917, "target_share": 0.85, "survey_count": 3,
                     "survey_average": 4.4, "survey_score_100": 88.0, "target_survey": 90},
    "inspections": {"done": 1, "risks": 2, "items": [{"number": "XJ-2026-000007", "visit_date": "2026-11-26",
                                                      "risks": 2, "summary": "系统总体运行稳定，需尽快扩容数据盘。"}]},
    "changes": {"delivered": 1, "items": [{"number": "AC-2026-000210", "title": "新增科室月度报表"}]},
    "quotes": {"accepted": 1, "declined": 0, "expired": 1, "waiting": 2},
}

DOCUMENT: dict[str, Any] = {
    "customer": "华东电网信息中心", "month": "2026-11", "number": "YB-2026-000003", "status": "sent",
    "figures": FIGURES,
    "analysis": "本月工单量较上月上升 15%，主要来自调度管理模块的性能问题。\nResolution compliance fell to 84%.",
    "measures": "一、12 月上旬完成数据库连接池扩容。\n二、报表导出增加重试 Retry report exports.",
    "internal_note": "客户对二级故障的响应速度不满，续约前需重点关注。INTERNAL-ONLY-7731",
    "reviewed_by": "manager", "sent_at": "2026-12-01T03:00:00+00:00",
}


def empty_figures(month: str = "2026-11", customer: str | None = "青山医院") -> dict[str, Any]:
    """A month without a single ticket, survey or inspection: zeros and nulls everywhere."""
    none = {"met": 0, "breached": 0, "rate": None}
    no_time = {"count": 0, "mean_hours": None, "p90_hours": None}
    figures: dict[str, Any] = {
        "month": month, "customer": customer, "period": {"from": None, "to": None},
        "tickets": {"opened": 0, "closed": 0, "open_at_end": 0},
        "by_category": [], "by_severity": [], "by_channel": [],
        "sla": {k: dict(none) for k in ("triage", "response", "resolve", "callback")},
        "sla_previous": {k: dict(none) for k in ("triage", "response", "resolve", "callback")},
        "times": {"response": dict(no_time), "resolve": dict(no_time)},
        "breaches": [], "recurrences": [], "fault_types": [], "modules": [],
        "satisfaction": {"count": 0, "average": None, "share_4_5": None, "target_share": 0.85, "survey_count": 0,
                         "survey_average": None, "survey_score_100": None, "target_survey": 90},
        "inspections": {"done": 0, "risks": 0, "items": []}, "changes": {"delivered": 0, "items": []},
        "quotes": {"accepted": 0, "declined": 0, "expired": 0, "waiting": 0},
    }
    if customer is None:
        figures["customers"] = []
    return figures


def management_document() -> dict[str, Any]:
    """The all-customers report: the busy month plus a table per customer."""
    figures = copy.deepcopy(FIGURES)
    figures["customer"] = None
    figures["customers"] = [{"customer": "华东电网信息中心", "opened": 23, "closed": 19, "breaches": 6},
                            {"customer": "青山医院", "opened": 4, "closed": 5, "breaches": 0},
                            {"customer": "Demo Customer", "opened": 0, "closed": 0, "breaches": 0}]
    return {"customer": None, "month": "2026-11", "number": None, "status": None, "figures": figures,
            "analysis": None, "measures": None, "internal_note": None, "reviewed_by": None, "sent_at": None}
