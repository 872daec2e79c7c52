"""Printable service documents as PDF, in Chinese with English: the change and extension development service form
(客户需求变更及扩展开发服务单) and the system inspection report (系统巡检报告).

Pure functions from a record to bytes. Chinese is set in reportlab's built-in CID font STSong-Light, which needs
no font file (PDF viewers bring their own font for Adobe-GB1) and keeps the text extractable; Latin runs are set in
Helvetica, because a viewer's stand-in for STSong spaces Latin letters badly."""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import partial
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT, LATIN_FONT = "STSong-Light", "Helvetica"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DASH = "—"
MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN
INK, MUTED, RULE, SHADE, BAND = (colors.HexColor(c) for c in ("#1a1a1a", "#666666", "#9aa4ae", "#f1f4f7", "#dde6ef"))
WARN, BAD = colors.HexColor("#a15c00"), colors.HexColor("#b3261e")
_LATIN = "".join(sorted({bytes([b]).decode("cp1252", errors="ignore") for b in range(32, 256)} - {""}))
LATIN_RUN = re.compile(f"([{re.escape(_LATIN)}]+)")  # what Helvetica (WinAnsi) can show
TAG = re.compile(r"(<[^>]*>)")

_BASE = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=13.5, textColor=INK, wordWrap="CJK")
BODY = _BASE
LABEL = ParagraphStyle("label", parent=_BASE, fontSize=9, leading=11.5)
SMALL = ParagraphStyle("small", parent=_BASE, fontSize=8, leading=10.5, textColor=MUTED)
TITLE = ParagraphStyle("title", parent=_BASE, fontSize=17, leading=22, alignment=TA_CENTER)
SUBTITLE = ParagraphStyle("subtitle", parent=_BASE, fontSize=10, leading=13, alignment=TA_CENTER, textColor=MUTED)
SECTION = ParagraphStyle("section", parent=_BASE, fontSize=11, leading=14)
NUMBER = ParagraphStyle("number", parent=_BASE, alignment=TA_RIGHT)
CENTER = ParagraphStyle("center", parent=_BASE, alignment=TA_CENTER)
SIGN = ParagraphStyle("sign", parent=_BASE, fontSize=13, leading=19)

# Values as the forms offer them: Chinese, English.
STATUS = {"new": ("新建", "New"), "triage": ("待分类", "Triage"), "in_progress": ("处理中", "In progress"),
          "awaiting_acceptance": ("待验收", "Awaiting acceptance"), "callback": ("待回访", "Callback"),
          "planning": ("待计划", "Planning"), "awaiting_signoff": ("待客户签字", "Awaiting sign-off"),
          "waiting_customer": ("等待客户", "Waiting for the customer"),
          "closed": ("已关闭", "Closed"), "archived": ("已归档", "Archived")}
CHANNEL = {"web": ("网页", "Web"), "phone": ("电话", "Phone"), "email": ("邮件", "E-mail"),
           "wechat": ("微信", "WeChat")}
KIND = {"bugfix": ("缺陷修复", "Defect fix"), "configuration": ("配置调整", "Configuration change"),
        "report": ("报表", "Report"), "enhancement": ("功能增强", "Enhancement"),
        "new_module": ("新模块开发", "New module")}
DECISION = {"implement": ("安排实施", "Implement"), "decline": ("不予实施", "Decline")}
CHARGE = {"free": ("免费", "Free"), "paid": ("收费", "Paid")}
QUOTE_OUTCOME = {"accepted": ("已接受", "Accepted"), "declined": ("已拒绝", "Declined"),
                 "expired": ("已过期", "Expired")}
NOT_PURSUED = {"assessment_declined": ("评估后不予实施", "Declined after assessment"),
               "declined": ("客户拒绝报价", "Quote declined"), "expired": ("报价过期", "Quote expired")}
CHECK_VALUE = {"normal": ("正常", "Normal"), "warning": ("有隐患", "Warning"), "fault": ("故障", "Fault"),
               "stable": ("稳定", "Stable"), "minor_issues": ("偶有问题", "Minor issues"),
               "unstable": ("不稳定", "Unstable"), "up_to_date": ("已是最新", "Up to date"),
               "pending": ("待安装", "Pending"), "missing": ("缺失重要补丁", "Missing important patches")}
SEVERITY = {"high": ("高", "High"), "medium": ("中", "Medium"), "low": ("低", "Low")}
ALARM = {"warning": WARN, "minor_issues": WARN, "pending": WARN, "medium": WARN,
         "fault": BAD, "unstable": BAD, "missing": BAD, "high": BAD}

Field = tuple[str, str, Any, bool]  # Chinese label, English label, value (text or flowable), spans the row


# -- values -------------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    """Paragraph markup for a plain value: escaped, line breaks kept, a dash when empty."""
    if value is None or value == "" or value == []:
        return DASH
    if isinstance(value, bool):
        return "是 Yes" if value else "否 No"
    if isinstance(value, float):
        value = f"{value:g}"
    return escape(str(value)).replace("\r\n", "\n").replace("\n", "<br/>")


def _when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO time (or a plain date) as Beijing time."""
    if not value:
        return DASH
    try:
        parsed = value if isinstance(value, datetime | date) else datetime.fromisoformat(str(value))
    except ValueError:
        return _text(value)
    if isinstance(parsed, datetime):
        return (parsed.astimezone(SHANGHAI) if parsed.tzinfo else parsed).strftime(fmt)
    return parsed.isoformat()


def _choice(table: dict[str, tuple[str, str]], value: Any) -> str:
    if value is None or value == "":
        return DASH
    zh, en = table.get(str(value), (str(value), ""))
    return escape(f"{zh} {en}".strip())


def _money(value: Any) -> str:
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return DASH


def _number(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return DASH
    return f"{value:g}{unit}" if isinstance(value, int | float) and not isinstance(value, bool) else _text(value)


def _para(markup: str, style: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of mixed Chinese and Latin markup; Latin runs outside tags switch to Helvetica."""
    parts = TAG.split(markup)
    for index in range(0, len(parts), 2):  # even parts are text between tags
        parts[index] = LATIN_RUN.sub(rf'<font face="{LATIN_FONT}">\1</font>', parts[index])
    return Paragraph("".join(parts), style)


def _draw(canvas: Canvas, x: float, y: float, text: str, size: float = 8, right: bool = False) -> None:
    """Draw one line of mixed text on the canvas, Latin runs in Helvetica, ending at x when `right`."""
    runs = [(run, LATIN_FONT if LATIN_RUN.fullmatch(run) else FONT) for run in LATIN_RUN.split(text) if run]
    if right:
        x -= sum(pdfmetrics.stringWidth(run, font, size) for run, font in runs)
    for run, font in runs:
        canvas.setFont(font, size)
        canvas.drawString(x, y, run)
        x += pdfmetrics.stringWidth(run, font, size)


def _colored(markup: str, value: Any) -> str:
    color = ALARM.get(str(value))
    return f'<font color="{color.hexval()}">{markup}</font>' if color is not None else markup


# -- building blocks ------------------------------------------------------------------------------------------

def _label(zh: str, en: str) -> Paragraph:
    return _para(f'{escape(zh)}<br/><font size="7" color="#666666">{escape(en)}</font>', LABEL)


def _heading(zh: str, en: str, number: Any) -> list[Flowable]:
    line = Table([[_para("时间均为北京时间 Times are Beijing time (UTC+8)", SMALL),
                   _para(f"编号 No. {_text(number)}", NUMBER)]], colWidths=[WIDTH / 2, WIDTH / 2])
    line.setStyle(TableStyle([("LEFTPADDING", (0, 0), (0, 0), 0), ("RIGHTPADDING", (1, 0), (1, 0), 0),
                              ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    return [_para(escape(zh), TITLE), _para(escape(en), SUBTITLE), Spacer(1, 2 * mm), line, Spacer(1, 1 * mm)]


def _signature_box(left: list[Flowable], right: list[Flowable]) -> Table:
    table = Table([[left, right]], colWidths=[WIDTH / 2, WIDTH / 2])
    table.setStyle(_grid([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 6),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 10), ("LEFTPADDING", (0, 0), (-1, -1), 8)]))
    return table


def _wet_signature() -> list[Flowable]:
    """Room to sign a printed copy when nobody confirmed online."""
    return [Spacer(1, 5 * mm), _para("签字 Signature: ____________________"), Spacer(1, 2 * mm),
            _para("日期 Date: ____________________")]


def _section(zh: str, en: str) -> Table:
    band = Table([[_para(f'{escape(zh)}  <font size="9" color="#444444">{escape(en)}</font>', SECTION)]],
                 colWidths=[WIDTH])
    band.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), BAND), ("TOPPADDING", (0, 0), (-1, -1), 3),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    return band


def _grid(style: list[tuple[Any, ...]]) -> TableStyle:
    return TableStyle([("GRID", (0, 0), (-1, -1), 0.5, RULE), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                       ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 4), *style])


def _fields(fields: Sequence[Field]) -> Table:
    """Label/value pairs, two to a row; a wide field takes a row of its own."""
    label_w, value_w = 30 * mm, WIDTH / 2 - 30 * mm
    rows: list[list[Any]] = []
    spans: list[tuple[Any, ...]] = []
    pending: list[Any] = []

    def whole_row(label: Paragraph, cell: Any) -> None:
        spans.extend([("SPAN", (1, len(rows)), (3, len(rows))),
                      ("BACKGROUND", (1, len(rows)), (3, len(rows)), colors.white)])
        rows.append([label, cell, "", ""])

    for zh, en, value, wide in fields:
        cell = value if isinstance(value, Flowable) else _para(value)
        if pending and wide:
            whole_row(*pending)
            pending = []
        if wide:
            whole_row(_label(zh, en), cell)
            continue
        pending += [_label(zh, en), cell]
        if len(pending) == 4:
            rows.append(pending)
            pending = []
    if pending:
        whole_row(*pending)
    table = Table(rows, colWidths=[label_w, value_w, label_w, value_w])
    shade = [("BACKGROUND", (c, 0), (c, -1), SHADE) for c in (0, 2)]
    table.setStyle(_grid([*shade, *spans]))
    return table


def _block(zh: str, en: str, *content: Flowable) -> list[Flowable]:
    return [Spacer(1, 4 * mm), _section(zh, en), Spacer(1, 1.5 * mm), *content]


def _render(story: list[Flowable], title: str, number: Any) -> bytes:
    buffer = BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 4 * mm, title=f"{title} {number or ''}".strip(),
                            creator="Aftercare", author="")
    footer = f"{title} / {number or DASH}"
    doc.build(story, canvasmaker=partial(_PagedCanvas, footer=footer))
    return buffer.getvalue()


class _PagedCanvas(Canvas):
    """Holds the pages back until the end so each footer can say "page n of N"."""

    def __init__(self, *args: Any, footer: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        """Draw every footer now that the number of pages is known, then write the file."""
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFillColor(MUTED)
            self.setStrokeColor(RULE)
            self.line(MARGIN, MARGIN, A4[0] - MARGIN, MARGIN)
            _draw(self, MARGIN, MARGIN - 4 * mm, self._footer)
            _draw(self, A4[0] - MARGIN, MARGIN - 4 * mm, f"第 {number} 页 / 共 {total} 页  Page {number} of {total}",
                  right=True)
            super().showPage()
        super().save()


# -- 客户需求变更及扩展开发服务单 -----------------------------------------------------------------------------------

CHANGE_TITLE = ("客户需求变更及扩展开发服务单", "Change and Extension Development Service Form")


def change_service_form_pdf(record: dict[str, Any]) -> bytes:
    """The change and extension development service form of one change request, as PDF bytes."""
    r = record
    story: list[Flowable] = _heading(*CHANGE_TITLE, r.get("number"))
    contact = " / ".join(str(v) for v in (r.get("contact_name"), r.get("contact_email")) if v)
    story.append(_fields([
        ("客户", "Customer", _text(r.get("customer")), False),
        ("合同编号", "Contract", _text(r.get("contract_number")), False),
        ("联系人", "Contact", _text(contact), False),
        ("渠道", "Channel", _choice(CHANNEL, r.get("channel")), False),
        ("受理时间", "Received", _when(r.get("created_at")), False),
        ("完成时间", "Resolved", _when(r.get("resolved_at")), False),
        ("状态", "Status", _choice(STATUS, r.get("status")), False),
        ("关闭时间", "Closed", _when(r.get("closed_at")), False),
    ]))
    story += _block("一、需求内容", "Request", _fields([
        ("标题", "Title", _text(r.get("title")), True),
        ("需求描述", "Description", _text(r.get("description")), True)]))
    story += _block("二、需求评估", "Assessment", _assessment(r.get("assessment") or {}))
    story += _block("三、收费判定", "Entitlement", _entitlement(r.get("entitlement") or {}))
    story += _block("四、报价", "Quote", *_quote(r.get("quote"), (r.get("entitlement") or {}).get("charge")))
    story += _block("五、排期", "Schedule", _schedule(r.get("schedule") or {}))
    story += _block("六、实施", "Implementation", _implementation(r.get("implementation") or {}, r.get("not_pursued")))
    closing = _para(f"归档时间 Archived: {_when(r.get('archived_at'))}&nbsp;&nbsp;&nbsp;&nbsp;"
                    f"生成时间 Generated: {_when(r.get('generated_at'))}", SMALL)
    story.append(KeepTogether([*_block("七、客户验收", "Customer acceptance", _acceptance(r)), Spacer(1, 2 * mm),
                               closing]))
    return _render(story, CHANGE_TITLE[0], r.get("number"))


def _assessment(a: dict[str, Any]) -> Table:
    return _fields([
        ("需求类型", "Kind of change", _choice(KIND, a.get("change_kind")), False),
        ("工作量", "Effort", _number(a.get("effort_days"), " 人天 person-days"), False),
        ("需求范围", "Scope", _text(a.get("scope")), True), ("影响分析", "Impact", _text(a.get("impact")), True),
        ("涉及模块", "Affected modules", _text(a.get("affected_modules")), True),
        ("评估结论", "Decision", _choice(DECISION, a.get("decision")), False),
        ("评估人", "Assessed by", f"{_text(a.get('by'))} / {_when(a.get('at'))}" if a.get("by") else DASH, False),
    ])


def _entitlement(e: dict[str, Any]) -> Table:
    return _fields([("免费或收费", "Free or paid", _choice(CHARGE, e.get("charge")), False),
                    ("判定依据", "Reason", _text(e.get("reason")), True)])


def _quote(q: dict[str, Any] | None, charge: Any) -> list[Flowable]:
    if not q:
        note = "免费服务，无需报价 Free of charge: no quote" if charge == "free" else DASH
        return [_fields([("报价", "Quote", note, True)])]
    currency = str(q.get("currency") or "CNY")
    head = [_label("序号", "No."), _label("服务内容", "Description"), _label("数量", "Quantity"),
            _label("单价", f"Unit price ({currency})"), _label("金额", f"Amount ({currency})")]
    rows: list[list[Any]] = [head]
    for index, item in enumerate(q.get("items") or [], start=1):
        rows.append([_para(str(index), CENTER), _para(_text(item.get("description"))),
                     *(_para(text, NUMBER) for text in (_number(item.get("quantity")), _money(item.get("unit_price")),
                                                        _money(item.get("amount"))))])
    if len(rows) == 1:
        rows.append(["", _para(DASH), "", "", ""])
    rows.append([_label("合计", "Total"), "", "", "", _para(f"{_text(currency)} {_money(q.get('total'))}", NUMBER)])
    items = Table(rows, colWidths=[14 * mm, WIDTH - 104 * mm, 24 * mm, 32 * mm, 34 * mm], repeatRows=1)
    items.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE), ("BACKGROUND", (0, -1), (-1, -1), SHADE),
                          ("SPAN", (0, -1), (3, -1))]))
    decided = q.get("accepted_at") or q.get("decided_at")
    by = f" / {escape(str(q['decided_by']))}" if q.get("decided_by") else ""
    facts = _fields([
        ("币种", "Currency", _text(currency), False), ("有效期至", "Valid until", _when(q.get("valid_until")), False),
        ("报价轮次", "Rounds", _number(q.get("rounds")), False),
        ("报价结果", "Outcome", _choice(QUOTE_OUTCOME, q.get("outcome")), False),
        ("接受时间", "Accepted at", f"{_when(decided)}{by}" if q.get("outcome") == "accepted" else DASH, False),
        ("审批人", "Approved by", _text(q.get("approved_by")), False),
        ("报价说明", "Note", _text(q.get("note")), True),
    ])
    return [items, Spacer(1, 1.5 * mm), facts]


def _schedule(s: dict[str, Any]) -> Table:
    return _fields([("计划开始", "Planned start", _when(s.get("planned_start"), "%Y-%m-%d"), False),
                    ("计划完成", "Planned end", _when(s.get("planned_end"), "%Y-%m-%d"), False),
                    ("实施工程师", "Engineer", _text(s.get("engineer")), False),
                    ("排期人", "Scheduled by", _text(s.get("by")), False)])


def _implementation(i: dict[str, Any], not_pursued: dict[str, Any] | None) -> Table:
    fields: list[Field] = [("实施说明", "What was done", _text(i.get("resolution")), True),
                           ("发布版本", "Version", _text(i.get("version")), False),
                           ("完成时间", "Completed", _when(i.get("at")), False)]
    if not_pursued:
        outcome = _choice(NOT_PURSUED, not_pursued.get("outcome"))
        fields.append(("不予实施", "Not pursued", f"{outcome}<br/>{_text(not_pursued.get('reason'))}", True))
    return _fields(fields)


def _acceptance(r: dict[str, Any]) -> Table:
    """The signature block: the provider's engineer on the left, the customer's acceptance on the right."""
    done, acc = r.get("implementation") or {}, r.get("acceptance") or {}
    engineer = done.get("by") or (r.get("schedule") or {}).get("engineer")
    provider = [_para("服务方 Service provider", SECTION), _para(f"实施工程师 Engineer: {_text(engineer)}"),
                _para(f"完成时间 Completed: {_when(done.get('at'))}"),
                _para(f"发布版本 Version: {_text(done.get('version'))}")]
    customer = [_para("客户 Customer", SECTION), _para(f"单位 Organisation: {_text(r.get('customer'))}")]
    outcome = acc.get("outcome")
    if outcome == "accepted":
        customer += [_para("验收人 Accepted by"), _para(_text(acc.get("by")), SIGN),
                     _para(f"验收时间 Accepted at: {_when(acc.get('at'))}"),
                     _para("通过邮件链接在线确认 Confirmed online through the e-mail link", SMALL)]
    elif outcome == "auto_accepted":
        customer += [_para("自动验收 Auto-accepted"), _para(f"验收时间 Accepted at: {_when(acc.get('at'))}"),
                     _para("客户 7 个工作日内未答复，按约定自动验收 "
                           "No answer within 7 working days: accepted as agreed", SMALL)]
    elif outcome == "rejected":
        customer += [_para(f"验收未通过 Rejected by: {_text(acc.get('by'))} {_when(acc.get('at'))}"),
                     _para(f"原因 Reason: {_text(acc.get('comment'))}")]
    else:
        customer += [_para("未验收 Not accepted yet"), *_wet_signature()]
    if outcome == "accepted" and acc.get("comment"):
        customer.append(_para(f"意见 Comments: {_text(acc.get('comment'))}"))
    return _signature_box(provider, customer)


# -- 系统巡检报告 -------------------------------------------------------------------------------------------------

INSPECTION_TITLE = ("系统巡检报告", "System Inspection Report")


def inspection_report_pdf(report: dict[str, Any]) -> bytes:
    """The system inspection report of one inspection, as PDF bytes."""
    r = report
    story: list[Flowable] = _heading(*INSPECTION_TITLE, r.get("number"))
    story.append(_fields([
        ("客户", "Customer", _text(r.get("customer")), False),
        ("合同编号", "Contract", _text(r.get("contract_number")), False),
        ("巡检工程师", "Engineer", _text(r.get("engineer")), False),
        ("上门日期", "Visit date", _when(r.get("visit_date"), "%Y-%m-%d"), False),
        ("计划到期", "Due", _when(r.get("due_at"), "%Y-%m-%d"), False),
        ("状态", "Status", _choice(STATUS, r.get("status")), False),
    ]))
    story += _block("一、检查结果", "Checks", _checklist(r.get("checklist") or {}))
    story += _block("二、风险点及优化建议", "Risks and recommendations", _risks(r.get("risks") or []))
    story += _block("三、巡检结论", "Summary", _fields([("结论", "Summary", _text(r.get("summary")), True)]))
    story.append(KeepTogether(_block("四、签字确认", "Sign-off", _signoff(r))))
    return _render(story, INSPECTION_TITLE[0], r.get("number"))


def _checklist(c: dict[str, Any]) -> Table:
    def check(key: str) -> str:
        return _colored(_choice(CHECK_VALUE, c.get(key)), c.get(key))

    patches = check("security_patches") + (f"<br/>{_text(c['patch_notes'])}" if c.get("patch_notes") else "")
    return _fields([
        ("服务器运行状态", "Server status", check("server_status"), False),
        ("功能使用稳定性", "Function stability", check("function_stability"), False),
        ("CPU 使用率", "CPU usage", _number(c.get("cpu_usage"), " %"), False),
        ("内存使用率", "Memory usage", _number(c.get("memory_usage"), " %"), False),
        ("磁盘使用率", "Disk usage", _number(c.get("disk_usage"), " %"), False),
        ("数据备份完整", "Backups complete", _colored(_text(c.get("backup_ok")), "fault" if c.get("backup_ok") is False
                                                  else None), False),
        ("最近恢复测试", "Last restore test", _when(c.get("last_restore_test"), "%Y-%m-%d"), False),
        ("安全补丁", "Security patches", patches, True),
    ])


def _risks(risks: list[dict[str, Any]]) -> Flowable:
    if not risks:
        return _fields([("风险", "Risks", "未发现风险 No risks found", True)])
    rows: list[list[Any]] = [[_label("序号", "No."), _label("风险", "Risk"), _label("严重程度", "Severity"),
                              _label("建议", "Recommendation"), _label("跟进", "Follow-up")]]
    for index, risk in enumerate(risks, start=1):
        severity = risk.get("severity")
        follow = (_text(risk["ticket_number"]) if risk.get("ticket_number") else
                  "需处理 Action needed" if risk.get("action_needed") else DASH)
        rows.append([_para(str(index), CENTER), _para(_text(risk.get("description"))),
                     _para(_colored(_choice(SEVERITY, severity), severity)),
                     _para(_text(risk.get("recommendation"))), _para(follow)])
    table = Table(rows, colWidths=[12 * mm, WIDTH - 120 * mm, 24 * mm, 50 * mm, 34 * mm], repeatRows=1)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE), ("VALIGN", (0, 1), (-1, -1), "TOP")]))
    return table


def _signoff(r: dict[str, Any]) -> Table:
    engineer = [_para("巡检工程师 Engineer", SECTION), _para(_text(r.get("engineer")), SIGN),
                _para(f"上门日期 Visit date: {_when(r.get('visit_date'), '%Y-%m-%d')}")]
    if r.get("signed_by"):
        customer = [_para("客户签字 Customer", SECTION), _para(_text(r["signed_by"]), SIGN),
                    _para(f"签字时间 Signed at: {_when(r.get('signed_at'))}"),
                    _para("通过邮件链接在线签字 Signed online through the e-mail link", SMALL)]
    else:
        customer = [_para("客户签字 Customer", SECTION), _para("未签字 Not signed", SIGN), *_wet_signature()]
    if r.get("signoff_comment"):
        customer.append(_para(f"客户意见 Comment: {_text(r['signoff_comment'])}"))
    return _signature_box(engineer, customer)

