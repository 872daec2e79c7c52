"""The fault handling form (故障处理单) of a maintenance request: an A4 print page and a PDF built from the same
sections, in Chinese with English like the change form (api/pdf.py supplies the PDF building blocks). Customer,
contact, fault, times against the SLA, the work done, acceptance and callback, and signature blocks; staff appear by
user name only, never by e-mail address, and the diagram is not on it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Spacer, Table

from . import pdf
from .deps import DbId, Facade
from .security import StaffActor, staff_actor
from .staff import page

router = APIRouter(dependencies=[Depends(staff_actor)])
TITLE = ("故障处理单", "Fault Handling Form")
Row = tuple[str, str, str, bool]  # Chinese label, English label, plain text value, spans the row
STEPS = {"reported": ("受理", "Reported"), "triaged": ("分类定级", "Triaged"), "responded": ("响应", "Responded"),
         "resolved": ("解决", "Resolved"), "accepted": ("客户验收", "Accepted"), "called_back": ("回访", "Callback")}
MET = {True: "达标 Met", False: "超时 Missed", None: ""}
OPEN = "进行中 Open"


@dataclass
class Section:
    """A titled block of the form: label/value rows, or the SLA table's (step zh, step en, deadline, done, met)."""

    zh: str
    en: str
    rows: list[Row] = field(default_factory=list)
    table: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    note: str = ""

    def grid(self) -> list[list[tuple[str, str, str, bool]]]:
        """The rows as the print page lays them out: two fields to a line, a wide field (last flag) on its own."""
        lines: list[list[tuple[str, str, str, bool]]] = []
        pending: list[tuple[str, str, str, bool]] = []
        for zh, en, value, wide in self.rows:
            if wide or len(pending) == 1:
                if pending and wide:
                    lines.append([(*pending[0][:3], True)])
                    pending = []
                if wide:
                    lines.append([(zh, en, value, True)])
                    continue
                lines.append([*pending, (zh, en, value, False)])
                pending = []
                continue
            pending = [(zh, en, value, False)]
        if pending:
            lines.append([(*pending[0][:3], True)])
        return lines


def _yes_no(value: Any) -> str:
    return "" if value is None else ("是 Yes" if value is True or str(value).lower() == "true" else "否 No")


def _when(value: Any) -> str:
    return "" if not value else pdf._when(value)


def _choice(forms: dict[str, dict[str, Any]], tasks: tuple[str, ...], name: str, value: Any) -> str:
    """A form value by its choice's titles (中文 English) from the step's own form, else as it is."""
    if value in (None, ""):
        return ""
    for task in tasks:
        prop = forms.get(task, {}).get("properties", {}).get(name, {})
        if prop.get("type") == "boolean" and isinstance(value, bool):
            return str(prop.get("x-true" if value else "x-false") or _yes_no(value))
        for option in prop.get("oneOf", []):
            if str(option.get("const")) == str(value):
                zh, en = option.get("title", ""), option.get("x-title-en", "")
                return f"{zh} {en}".strip() if en and en != zh else str(zh)
    return str(value)


def sections(record: dict[str, Any], forms: dict[str, dict[str, Any]]) -> list[Section]:
    """The form's blocks in reading order; the SLA block's rows are (step, deadline, done, met) texts."""
    r, triage = record, record.get("triage") or {}
    work, callback = record.get("resolution") or {}, record.get("callback") or {}
    response = record.get("response") or {}
    resolver = ("engineer_resolution", "expert_resolution")
    contact = " / ".join(str(v) for v in (r.get("contact_name"), r.get("contact_phone"), r.get("contact_email")) if v)
    facts = Section("", "", [
        ("客户", "Customer", str(r.get("customer") or ""), False),
        ("合同编号", "Contract", str(r.get("contract_number") or ""), False),
        ("联系人", "Contact", contact, True),
        ("报修渠道", "Channel", pdf._choice(pdf.CHANNEL, r.get("channel")), False),
        ("状态", "Status", pdf._choice(pdf.STATUS, r.get("status")), False)])
    fault = Section("一、故障情况", "Fault", [
        ("标题", "Title", str(r.get("title") or ""), True),
        ("故障描述", "Description", str(r.get("description") or ""), True),
        ("类别", "Category", _choice(forms, ("triage",), "category", triage.get("category") or r.get("category")),
         False),
        ("故障等级", "Severity", _choice(forms, ("triage",), "severity", triage.get("severity") or r.get("severity")),
         False),
        ("处理方式", "Handling", _choice(forms, ("triage",), "onsite", triage.get("onsite")), False),
        ("故障类型", "Fault type", _choice(forms, resolver, "fault_type", work.get("fault_type")), False),
        ("影响模块", "Module", str(work.get("module") or ""), False)])
    return [facts, fault, _sla(r), _work(r, response, work), _sign_off(r, callback)]


def _sla(r: dict[str, Any]) -> Section:
    rows: list[tuple[str, str, str, str, str]] = []
    for row in r.get("sla") or []:
        zh, en = STEPS.get(row["step"], (row["step"], row["step"]))
        met = MET[row["met"]] if row["due"] else ""
        if row["due"] and not row["done"] and row["met"] is None:
            met = OPEN
        rows.append((zh, en, _when(row["due"]), _when(row["done"]), met))
    note = f"服务日历 Calendar: {r.get('calendar') or pdf.DASH}"
    if r.get("paused_hours"):
        hours = f"{r['paused_hours']:g}"
        note += f"；等待客户期间暂停 {hours} 小时 Paused while waiting for the customer: {hours} h"
    return Section("二、服务时限", "Times against the SLA", table=rows, note=note)


def _work(r: dict[str, Any], response: dict[str, Any], work: dict[str, Any]) -> Section:
    rework = "\n".join(f"{_when(x['at'])}  {x.get('reason') or ''}" for x in r.get("rejections") or [])
    escalated = work.get("escalation_reason") or ""
    return Section("三、处理过程", "Work done", [
        ("初步诊断", "Diagnosis", str(response.get("diagnosis") or ""), True),
        ("处理计划", "Plan", str(response.get("plan") or ""), True),
        ("处理措施", "Resolution", str(work.get("resolution") or work.get("answer") or ""), True),
        ("根本原因", "Root cause", str(work.get("root_cause") or ""), True),
        ("预防措施", "Preventive action", str(work.get("preventive_action") or ""), True),
        ("升级专家组", "Escalated to experts", f"{_yes_no(r.get('escalated'))} {escalated}".strip(), True),
        ("客户驳回", "Rejected by the customer", rework or "无 None", True),
        ("服务工程师", "Service engineer", str(work.get("by") or response.get("by") or ""), False),
        ("解决时间", "Resolved", _when(work.get("at")), False)])


def _sign_off(r: dict[str, Any], callback: dict[str, Any]) -> Section:
    acc = r.get("acceptance") or {}
    outcome = {"accepted": f"已验收 Accepted · {acc.get('by') or ''} · {_when(acc.get('at'))}",
               "auto_accepted": f"自动验收 Auto-accepted · {_when(acc.get('at'))}",
               "rejected": f"驳回 Rejected · {_when(acc.get('at'))}"}.get(str(acc.get("outcome")), "")
    score = r.get("survey_score")
    comments = "\n".join(str(c) for c in (acc.get("comment") if acc.get("outcome") == "accepted" else None,
                                          callback.get("comment"), r.get("survey_comment")) if c)
    return Section("四、验收与回访", "Acceptance and callback", [
        ("验收结果", "Acceptance", outcome, True),
        ("问题复发", "Recurred", _yes_no(callback.get("recurred")), False),
        ("回访满意度", "Satisfaction", f"{callback['satisfaction']} / 5" if callback.get("satisfaction") else "",
         False),
        ("回访人", "Called back by", str(callback.get("by") or ""), False),
        ("回访时间", "Called back", _when(callback.get("at")), False),
        ("调查评分", "Survey score", f"{score} / 5" if score else "", False),
        ("归档时间", "Archived", _when(r.get("archived_at")), False),
        ("客户意见", "Customer comments", comments, True)])


# -- PDF --------------------------------------------------------------------------------------------------------

def service_form_pdf(record: dict[str, Any], forms: dict[str, dict[str, Any]]) -> bytes:
    """The fault handling form as PDF bytes (one or two A4 pages)."""
    blocks = sections(record, forms)
    story: list[Flowable] = pdf._heading(*TITLE, record.get("number"))
    story.append(_pdf_fields(blocks[0].rows))
    story += pdf._block(blocks[1].zh, blocks[1].en, _pdf_fields(blocks[1].rows))
    story += pdf._block(blocks[2].zh, blocks[2].en, _pdf_sla(blocks[2]))
    story += pdf._block(blocks[3].zh, blocks[3].en, _pdf_fields(blocks[3].rows))
    story += pdf._block(blocks[4].zh, blocks[4].en, _pdf_fields(blocks[4].rows))
    closing = pdf._para(f"生成时间 Generated: {pdf._when(record.get('generated_at'))}", pdf.SMALL)
    story.append(KeepTogether([*pdf._block("五、签字确认", "Signatures", _pdf_signatures(record)),
                               Spacer(1, 2 * mm), closing]))
    return pdf._render(story, TITLE[0], record.get("number"))


def _pdf_fields(rows: list[Row]) -> Table:
    return pdf._fields([(zh, en, pdf._text(value), wide) for zh, en, value, wide in rows])


def _pdf_sla(block: Section) -> Table:
    head = [pdf._label("环节", "Step"), pdf._label("时限", "Deadline"), pdf._label("完成时间", "Done"),
            pdf._label("是否达标", "Met")]
    body: list[list[Any]] = [head]
    for zh, en, due, done, met in block.table:
        shown = pdf._text(met) if met != MET[False] else f'<font color="{pdf.BAD.hexval()}">{pdf._text(met)}</font>'
        body.append([pdf._label(zh, en), pdf._para(pdf._text(due)), pdf._para(pdf._text(done)), pdf._para(shown)])
    body.append([pdf._para(pdf._text(block.note), pdf.SMALL), "", "", ""])
    table = Table(body, colWidths=[40 * mm, (pdf.WIDTH - 70 * mm) / 2, (pdf.WIDTH - 70 * mm) / 2, 30 * mm])
    table.setStyle(pdf._grid([("BACKGROUND", (0, 0), (-1, 0), pdf.SHADE), ("BACKGROUND", (0, 1), (0, -2), pdf.SHADE),
                              ("SPAN", (0, -1), (-1, -1))]))
    return table


def _pdf_signatures(record: dict[str, Any]) -> Table:
    work = record.get("resolution") or record.get("response") or {}
    acc = record.get("acceptance") or {}
    provider = [pdf._para("服务工程师 Service engineer", pdf.SECTION),
                pdf._para(f"姓名 Name: {pdf._text(work.get('by'))}"), *pdf._wet_signature()]
    customer = [pdf._para("客户确认 Customer confirmation", pdf.SECTION),
                pdf._para(f"单位 Organisation: {pdf._text(record.get('customer'))}"),
                pdf._para(f"联系人 Contact: {pdf._text(record.get('contact_name'))}")]
    if acc.get("outcome") == "accepted":
        customer.append(pdf._para(f"已于 {pdf._when(acc.get('at'))} 通过邮件链接在线验收 "
                                  f"Accepted online through the e-mail link", pdf.SMALL))
    return pdf._signature_box(provider, [*customer, *pdf._wet_signature()])


# -- HTML -------------------------------------------------------------------------------------------------------

@router.get("/tickets/{ticket_id}/service-form", response_class=HTMLResponse)
def service_form_page(ticket_id: DbId, request: Request, facade: Facade, actor: StaffActor) -> HTMLResponse:
    """The fault handling form as an A4 page to print (FastAPI runs it in a thread)."""
    record = facade.fault_form(ticket_id=ticket_id, actor=actor)
    blocks = sections(record, facade.task_forms(ticket_id=ticket_id))
    return page(request, "service_form", actor, record=record, blocks=blocks, title=TITLE, steps=STEPS)


def fault_form_pdf(facade: Any, actor: Any, ticket_id: int) -> tuple[bytes, str]:
    """The PDF of a ticket's fault handling form and its file name (for the documents route)."""
    record = facade.fault_form(ticket_id=ticket_id, actor=actor)
    content = service_form_pdf(record, facade.task_forms(ticket_id=ticket_id))
    return content, f"{record.get('number') or ticket_id}-fault-form.pdf"
