"""The monthly service report (月度服务报告) as PDF, in Chinese with English like the other service documents
(api/pdf.py, whose styles and building blocks it shares): the month's figures with charts, the service manager's
analysis and improvement measures, and for staff only the internal note.

A pure function from a report document (facade.monthly_report) to bytes. The customer's copy never contains the
internal note; `internal=True` gives the staff and management copy."""
from __future__ import annotations

import calendar
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table, TableStyle

from .pdf import (
    BAD,
    BODY,
    CENTER,
    CHANNEL,
    DASH,
    NUMBER,
    SECTION,
    SHADE,
    SMALL,
    WIDTH,
    _fields,
    _grid,
    _heading,
    _label,
    _para,
    _render,
    _section,
    _text,
    _when,
)
from .report_charts import category_chart, compliance_chart, target_chart

TITLE = ("月度服务报告", "Monthly service report")
MANAGEMENT = ("月度服务报告（内部管理）", "Monthly service report: all customers, for management")
# ticket categories as triage names them (a change ticket is 需求建议; the procedure it runs is 需求变更)
CATEGORY = {"question": ("操作疑问", "Question"), "fault": ("故障", "Fault"), "change": ("需求建议", "Change"),
            "complaint": ("投诉", "Complaint"), "inspection": ("巡检", "Inspection"),
            "standby": ("重要事件保障", "Standby"), "report": ("月度报告", "Monthly report")}
METRIC = {"triage": ("分类定级", "Triage"), "response": ("响应", "Response"), "resolve": ("解决", "Resolution"),
          "callback": ("回访", "Callback"), "answer": ("投诉答复", "Complaint answer")}
SEVERITY = {"1": ("一级", "Severity 1"), "2": ("二级", "Severity 2"), "3": ("三级", "Severity 3")}
FAULT_TYPE = {"login": ("登录与权限", "Login and permissions"), "data": ("数据错误", "Wrong data"),
              "performance": ("性能", "Performance"), "interface": ("接口对接", "Interfaces"),
              "report": ("报表", "Reports"), "ui": ("界面操作", "User interface"),
              "environment": ("服务器与网络环境", "Servers and network"), "other": ("其他", "Other")}
NUMERALS = "一二三四五六七八九十"
CELL_LIMIT = 800  # characters of free text in one table cell: a table row cannot be taller than a page


def monthly_report_pdf(document: dict[str, Any], *, internal: bool = False) -> bytes:
    """The monthly service report of one customer (or of all customers when `customer` is None), as PDF bytes."""
    doc, figures = document, document.get("figures") or {}
    management = doc.get("customer") is None
    story: list[Flowable] = _heading(*(MANAGEMENT if management else TITLE), doc.get("number"))
    if internal:
        story.append(_para(f'<font color="{BAD.hexval()}">内部版本，不发给客户 Internal copy: not for the '
                           "customer</font>", CENTER))
        story.append(Spacer(1, 1.5 * mm))
    story.append(_cover(doc))
    if doc.get("live") and not management:
        story += [Spacer(1, 1.5 * mm), _para("本月报告尚未审核，以下为实时数据。Not reviewed yet: these are the live "
                                             "figures.", SMALL)]
    sections = _sections(figures, management)
    sections.append(("分析", "Analysis", _long_text(doc.get("analysis"), "尚未填写 Not written yet")))
    sections.append(("改进措施", "Improvement measures", _long_text(doc.get("measures"), "尚未填写 Not written yet")))
    if internal:
        sections.append(("内部备注", "Internal note (not sent to the customer)",
                         _long_text(doc.get("internal_note"), "无 None")))
    for index, (zh, en, content) in enumerate(sections):
        story += _block(f"{_numeral(index + 1)}、{zh}", en, content)
    footer_number = doc.get("number") or f"{doc.get('customer') or '全部客户 All customers'} {doc.get('month')}"
    return _render(story, TITLE[0], footer_number)


def _numeral(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二."""
    return NUMERALS[n - 1] if n <= 10 else f"十{NUMERALS[n - 11]}"


def _block(zh: str, en: str, content: list[Flowable]) -> list[Flowable]:
    """A numbered section; its heading stays on the page of its first piece."""
    head = [_section(zh, en), Spacer(1, 1.5 * mm)]
    if not content:
        return [Spacer(1, 4 * mm), *head]
    return [Spacer(1, 4 * mm), KeepTogether([*head, content[0]]), *content[1:]]


def _month_text(month: Any) -> str:
    try:
        year, number = (int(part) for part in str(month).split("-"))
        last = calendar.monthrange(year, number)[1]
    except (TypeError, ValueError):
        return _text(month)
    return (f"{year} 年 {number} 月 {calendar.month_name[number]} {year}<br/>"
            f'<font size="8" color="#666666">{year}-{number:02d}-01 至 to {year}-{number:02d}-{last}</font>')


def _cover(doc: dict[str, Any]) -> Table:
    sent = _when(doc.get("sent_at")) if doc.get("sent_at") or doc.get("customer") is None else "未发送 Not sent yet"
    return _fields([
        ("客户", "Customer", _text(doc.get("customer") or "全部客户 All customers"), False),
        ("报告编号", "Report No.", _text(doc.get("number")), False),
        ("报告月份", "Month", _month_text(doc.get("month")), False),
        ("审核人", "Reviewed by", _text(doc.get("reviewed_by")), False),
        ("发送时间", "Sent", sent, False),
    ])


# -- figures ----------------------------------------------------------------------------------------------------

def _sections(f: dict[str, Any], management: bool) -> list[tuple[str, str, list[Flowable]]]:
    sections = [("概况", "Summary", [_summary(f)]),
                ("工单统计", "Tickets", _tickets(f)),
                ("SLA 达成情况", "SLA compliance", _sla(f)),
                ("超时工单及原因", "Breaches and causes", [_breaches(f.get("breaches") or [])]),
                ("问题复发", "Recurrences", [_recurrences(f.get("recurrences") or [])]),
                ("高频故障类型与模块", "Most frequent fault types and modules", [_top(f)]),
                ("满意度", "Satisfaction", _satisfaction(f.get("satisfaction") or {})),
                ("巡检与风险", "Inspections and risks", _inspections(f.get("inspections") or {})),
                ("需求变更与报价", "Changes delivered and quotes", _changes(f))]
    if management:
        sections.insert(1, ("各客户情况", "Per customer", [_customers(f.get("customers") or [])]))
    return sections


def _count(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else DASH


def _rate(rate: Any) -> str:
    return f"{rate * 100:.1f}%" if isinstance(rate, int | float) and not isinstance(rate, bool) else DASH


def _hours(value: Any) -> str:
    return f"{value:g} 小时 h" if isinstance(value, int | float) and not isinstance(value, bool) else DASH


def _all_clocks(sla: dict[str, Any]) -> float | None:
    met = sum(int((m or {}).get("met") or 0) for m in sla.values())
    breached = sum(int((m or {}).get("breached") or 0) for m in sla.values())
    return met / (met + breached) if met + breached else None


def _summary(f: dict[str, Any]) -> Table:
    tickets, sat = f.get("tickets") or {}, f.get("satisfaction") or {}
    inspections, changes = f.get("inspections") or {}, f.get("changes") or {}
    tiles = [("新建工单", "Tickets opened", _count(tickets.get("opened"))),
             ("已关闭", "Closed", _count(tickets.get("closed"))),
             ("月末未关闭", "Open at month end", _count(tickets.get("open_at_end"))),
             ("SLA 达成率", "SLA met, all clocks", _rate(_all_clocks(f.get("sla") or {}))),
             ("满意度（4–5 分）", f"Satisfied, target {_target(sat.get('target_share'), 0.85)}",
              _rate(sat.get("share_4_5"))),
             ("问卷得分", f"Survey score, target {sat.get('target_survey') or 90}",
              _number(sat.get("survey_score_100"))),
             ("巡检 / 风险", "Inspections / risks", f"{_count(inspections.get('done'))} / "
                                                   f"{_count(inspections.get('risks'))}"),
             ("交付需求变更", "Changes delivered", _count(changes.get("delivered")))]
    cells = [[_para(f'<font size="15">{escape(value)}</font><br/>{escape(zh)}<br/>'
                    f'<font size="7" color="#666666">{escape(en)}</font>', CENTER) for zh, en, value in row]
             for row in (tiles[:4], tiles[4:])]
    table = Table(cells, colWidths=[WIDTH / 4] * 4)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, -1), SHADE), ("TOPPADDING", (0, 0), (-1, -1), 5),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    return table


def _real(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _target(value: Any, default: float) -> str:
    return f"{_real(value, default) * 100:g}%"


def _number(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and not isinstance(value, bool) else DASH


def _names(table: dict[str, tuple[str, str]], key: Any) -> tuple[str, str]:
    return table.get(str(key), (str(key) if key not in (None, "") else DASH, ""))


def _tickets(f: dict[str, Any]) -> list[Flowable]:
    rows = f.get("by_category") or []
    bars = [(*_names(CATEGORY, r.get("key")), r.get("count")) for r in rows]
    chart: Flowable = (category_chart(bars, WIDTH * 0.58) if any(r.get("count") for r in rows)
                       else _para("本月没有新工单 No tickets this month", SMALL))
    side = [_counts("严重程度", "Severity", [(*_names(SEVERITY, r.get("key")), r.get("count"))
                                          for r in f.get("by_severity") or []], WIDTH * 0.4),
            Spacer(1, 2 * mm),
            _counts("渠道", "Channel", [(*_names(CHANNEL, r.get("key")), r.get("count"))
                                     for r in f.get("by_channel") or []], WIDTH * 0.4)]
    layout = Table([[chart, side]], colWidths=[WIDTH * 0.6, WIDTH * 0.4])
    layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [_para("按类别统计本月新建工单；严重程度仅统计故障。Tickets opened this month by category; severity counts "
                  "faults only.", SMALL), Spacer(1, 1 * mm), layout]


def _counts(zh: str, en: str, rows: Sequence[tuple[str, str, Any]], width: float) -> Table:
    """A two-column table of counts, or a dash when there is nothing to count."""
    body: list[list[Any]] = [[_label(zh, en), _label("数量", "Count")]]
    body += [[_para(f"{escape(a)} {escape(b)}".strip()), _para(_count(n), NUMBER)] for a, b, n in rows]
    if len(body) == 1:
        body.append([_para(DASH), _para("0", NUMBER)])
    table = Table(body, colWidths=[width - 22 * mm, 22 * mm], repeatRows=1)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))
    return table


def _sla(f: dict[str, Any]) -> list[Flowable]:
    sla, previous, times = f.get("sla") or {}, f.get("sla_previous") or {}, f.get("times") or {}
    metrics = [key for key in METRIC if key in sla or key in previous] or list(METRIC)[:4]
    rates = [(*METRIC[k], (sla.get(k) or {}).get("rate"), (previous.get(k) or {}).get("rate")) for k in metrics]
    chart: Flowable = (compliance_chart(rates, WIDTH) if any(r[2] is not None or r[3] is not None for r in rates)
                       else _para("本月和上月都没有计时结束 No SLA clock stopped or breached in either month", SMALL))
    head = [_label("时限", "Clock"), _label("达标", "Met"), _label("超时", "Breached"),
            _label("本月达成率", "This month"), _label("上月达成率", "Previous month")]
    rows: list[list[Any]] = [head]
    for key in metrics:
        now, before = sla.get(key) or {}, previous.get(key) or {}
        rows.append([_para(escape(" ".join(METRIC[key]))), *(_para(text, NUMBER) for text in (
            _count(now.get("met")), _count(now.get("breached")), _rate(now.get("rate")), _rate(before.get("rate"))))])
    table = Table(rows, colWidths=[WIDTH - 120 * mm, 24 * mm, 24 * mm, 36 * mm, 36 * mm], repeatRows=1)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))
    return [chart, Spacer(1, 1.5 * mm), KeepTogether([table, Spacer(1, 1.5 * mm), _times(times)])]


def _times(times: dict[str, Any]) -> Table:
    head = [_label("用时", "Working hours"), _label("工单数", "Tickets"), _label("平均", "Mean"),
            _label("90% 不超过", "90th percentile")]
    rows: list[list[Any]] = [head]
    for key, zh, en in (("response", "响应用时", "Time to respond"), ("resolve", "解决用时", "Time to resolve")):
        t = times.get(key) or {}
        rows.append([_para(f"{zh} {en}"), *(_para(text, NUMBER) for text in (
            _count(t.get("count")), _hours(t.get("mean_hours")), _hours(t.get("p90_hours"))))])
    table = Table(rows, colWidths=[WIDTH - 108 * mm, 28 * mm, 40 * mm, 40 * mm])
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))
    return table


def _clip(value: Any) -> str:
    text = str(value or "")
    return _text(text if len(text) <= CELL_LIMIT else text[:CELL_LIMIT] + "…")


def _list(head: list[Paragraph], rows: list[list[Any]], widths: list[float], empty: str) -> Flowable:
    """A table of items with a header row repeated on each page, or a line saying there are none."""
    if not rows:
        return _para(empty, SMALL)
    table = Table([head, *rows], colWidths=widths, repeatRows=1, splitInRow=1)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE), ("VALIGN", (0, 1), (-1, -1), "TOP")]))
    return table


def _breaches(items: list[dict[str, Any]]) -> Flowable:
    head = [_label("工单", "Ticket"), _label("标题", "Title"), _label("时限", "Clock"),
            _label("超时时间", "Breached at"), _label("原因", "Cause")]
    rows = [[_para(_text(b.get("number"))), _para(_clip(b.get("title"))),
             _para(escape(" ".join(_names(METRIC, b.get("kind"))))), _para(_when(b.get("at"))),
             _para(_clip(b.get("cause")))] for b in items]
    return _list(head, rows, [30 * mm, 42 * mm, 30 * mm, 26 * mm, WIDTH - 128 * mm],
                 "本月无超时 No breaches this month")


def _recurrences(items: list[dict[str, Any]]) -> Flowable:
    head = [_label("工单", "Ticket"), _label("标题", "Title"), _label("原工单", "Recurrence of")]
    rows = [[_para(_text(r.get("number"))), _para(_clip(r.get("title"))), _para(_text(r.get("origin")))]
            for r in items]
    return _list(head, rows, [34 * mm, WIDTH - 68 * mm, 34 * mm], "本月无复发 No recurrences this month")


def _top(f: dict[str, Any]) -> Table:
    def ranked(zh: str, en: str, rows: list[dict[str, Any]], names: dict[str, tuple[str, str]]) -> Table:
        return _counts(zh, en, [(*_names(names, r.get("key")), r.get("count")) for r in rows[:10]],
                       WIDTH / 2 - 2 * mm)

    layout = Table([[ranked("故障类型", "Fault type", f.get("fault_types") or [], FAULT_TYPE),
                     ranked("涉及模块", "Module", f.get("modules") or [], {})]], colWidths=[WIDTH / 2, WIDTH / 2])
    layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return layout


def _satisfaction(sat: dict[str, Any]) -> list[Flowable]:
    target_share, target_survey = _real(sat.get("target_share"), 0.85), _real(sat.get("target_survey"), 90)
    share = sat.get("share_4_5")
    chart = target_chart([("回访满意度（4–5 分占比）", "Callbacks rated 4 or 5, in %",
                           None if share is None else share * 100, target_share * 100),
                          ("满意度问卷得分（百分制）", "Survey score out of 100", sat.get("survey_score_100"),
                           target_survey)], WIDTH)
    facts = _fields([
        ("回访次数", "Callbacks", _count(sat.get("count")), False),
        ("平均评分", "Average (1–5)", _number(sat.get("average")), False),
        ("问卷份数", "Surveys", _count(sat.get("survey_count")), False),
        ("问卷平均", "Survey average (1–5)", _number(sat.get("survey_average")), False),
    ])
    note = _para(f"目标：服务满意度 &gt; {target_share * 100:g}%，季度问卷得分 ≥ {target_survey:g}。"
                 f"Targets: satisfaction above {target_share * 100:g}%, quarterly survey score at least "
                 f"{target_survey:g}.", SMALL)
    return [chart, Spacer(1, 1 * mm), note, Spacer(1, 1.5 * mm), facts]


def _inspections(i: dict[str, Any]) -> list[Flowable]:
    head = [_label("巡检单", "Inspection"), _label("上门日期", "Visit date"), _label("风险", "Risks"),
            _label("结论", "Summary")]
    rows = [[_para(_text(x.get("number"))), _para(_when(x.get("visit_date"), "%Y-%m-%d")),
             _para(_count(x.get("risks")), NUMBER), _para(_clip(x.get("summary")))] for x in i.get("items") or []]
    line = _para(f"本月完成巡检 {_count(i.get('done'))} 次，发现风险 {_count(i.get('risks'))} 项。"
                 f"Inspections done: {_count(i.get('done'))}; risks found: {_count(i.get('risks'))}.")
    return [line, Spacer(1, 1.5 * mm), _list(head, rows, [34 * mm, 26 * mm, 16 * mm, WIDTH - 76 * mm],
                                             "本月无巡检 No inspections this month")]


def _changes(f: dict[str, Any]) -> list[Flowable]:
    changes, quotes = f.get("changes") or {}, f.get("quotes") or {}
    rows = [[_para(_text(c.get("number"))), _para(_clip(c.get("title")))] for c in changes.get("items") or []]
    delivered = _list([_label("工单", "Ticket"), _label("需求", "Change")], rows, [34 * mm, WIDTH - 34 * mm],
                      "本月无交付的需求变更 No changes delivered this month")
    quote_line = _fields([("已接受报价", "Quotes accepted", _count(quotes.get("accepted")), False),
                          ("已拒绝", "Declined", _count(quotes.get("declined")), False),
                          ("已过期", "Expired", _count(quotes.get("expired")), False),
                          ("待客户决定", "Awaiting the customer", _count(quotes.get("waiting")), False)])
    return [_para(f"交付需求变更 {_count(changes.get('delivered'))} 项 Changes delivered: "
                  f"{_count(changes.get('delivered'))}"), Spacer(1, 1.5 * mm), delivered, Spacer(1, 2 * mm),
            KeepTogether([_para("报价 Quotes", SECTION), Spacer(1, 1 * mm), quote_line])]


def _customers(rows: list[dict[str, Any]]) -> Flowable:
    head = [_label("客户", "Customer"), _label("新建", "Opened"), _label("关闭", "Closed"), _label("超时", "Breaches")]
    body = [[_para(_clip(r.get("customer"))), *(_para(_count(r.get(k)), NUMBER) for k in ("opened", "closed",
                                                                                          "breaches"))]
            for r in rows]
    return _list(head, body, [WIDTH - 72 * mm, 24 * mm, 24 * mm, 24 * mm], "本月没有客户工单 No tickets this month")


def _long_text(value: Any, empty: str) -> list[Flowable]:
    """Free text as one paragraph per line, so that it flows over pages instead of sitting in one table cell."""
    text = str(value or "").replace("\r\n", "\n").strip()
    if not text:
        return [_para(empty, SMALL)]
    return [_para(escape(line) if line.strip() else "&nbsp;", BODY) for line in text.split("\n")]
