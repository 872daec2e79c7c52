"""The product's own procedures: the steps, form fields, calls and decision tables the code relies on.

A diagram may change anything else, but a file that defines one of these process ids (or decision ids) must keep
what the code reads, or tickets would silently skip steps (a maintenance request without `triage` closes at once).
Problems name the process (or step) and say why the product needs it, in both languages.

Sources: api/ and engine/ read task ids `triage`, `customer_acceptance`, `callback` (the API contract),
`satisfaction_survey` (portal.py), `quote_decision`, `prepare_quote`, `change_assessment`, `schedule_change`,
`implement_change` (records.py), form fields (projection.py _PLAIN_FIELDS, records.py, inspections.py
CHECKLIST_FIELDS, services/links.py _WORK_FIELDS, api/customer.py `score`), the SLA outputs (sla_replay.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .checker_bundle import Bundle
from .checker_messages import BPMN_NS, SPIFF_NS
from .checker_xml import XmlDoc, line_of_text
from .effects import CUSTOMER_LANE
from .inspections import CHECKLIST_FIELDS

Why = tuple[str, str]  # (English, Chinese)
Field = str | tuple[str, ...]  # a tuple: any one of these names (fields renamed over time still read)
USER_TASK = ("user task", "用户任务")


@dataclass(frozen=True)
class Step:
    """A user task the code finds by its id, with the lane and form fields it relies on."""

    id: str
    why: Why
    fields: tuple[Field, ...] = ()
    lane: str | None = None


@dataclass(frozen=True)
class Collects:
    """Form fields the code reads from the case data, whichever user task of the process collects them."""

    fields: tuple[str, ...]
    why: Why
    lane: str | None = None  # the user task must sit in this lane


@dataclass(frozen=True)
class Calls:
    """A call activity that calls another of the product's processes."""

    process: str
    why: Why


@dataclass(frozen=True)
class UsesDecision:
    """A business rule task that calls one of the product's decision tables."""

    decision: str
    why: Why


@dataclass(frozen=True)
class Table:
    """A product decision table: the file that holds it must keep its id and the outputs the code reads."""

    file: str
    decision: str
    outputs: tuple[str, ...]
    why: Why


Requirement = Step | Collects | Calls | UsesDecision

PROCEDURES: dict[str, tuple[Requirement, ...]] = {
    "maintenance_request": (
        Step("triage", ("the task list and the API name this step 'triage', and the ticket's category, severity and "
                        "on-site flag are copied from its form to the ticket, the SLA and the reports",
                        "任务列表和 API 以 'triage' 识别此步骤，工单的类别、故障等级和现场/远程标志从它的表单复制到工"
                        "单、SLA 和报表"),
             fields=("category", "severity", "onsite")),
        Step("customer_acceptance", ("the product opens the customer's acceptance page (e-mail link) from step "
                                     "customer_acceptance and keeps the customer's answer (accepted, reason) in the "
                                     "service record",
                                     "产品根据步骤 customer_acceptance 打开客户的验收页面（邮件链接），并把客户的答复"
                                     "（accepted、reason）记入服务单"),
             fields=("accepted", "reason"), lane=CUSTOMER_LANE),
        Step("callback", ("the API names this step 'callback', and its satisfaction score is copied to the ticket and "
                          "the monthly report",
                          "API 以 'callback' 识别此步骤，其满意度评分会复制到工单和月度报告"),
             fields=("recurred", "satisfaction", "comment")),
        Step("satisfaction_survey", ("the one-click survey link and the survey comment page work only on step "
                                     "satisfaction_survey, and its score is copied to the ticket",
                                     "一键满意度调查链接和调查留言页面只对步骤 satisfaction_survey 有效，其评分会复制"
                                     "到工单"),
             fields=("score",), lane=CUSTOMER_LANE),
        Calls("complaint", ("tickets filed as complaints (portal) or triaged as complaint are handled by the "
                            "complaint procedure",
                            "以投诉方式提交（门户）或分类为投诉的工单由投诉流程处理")),
        Calls("change_request", ("change requests are handled by the change-request procedure, from which the product "
                                 "builds the change service form (需求变更及扩展开发服务单)",
                                 "需求变更由变更流程处理，产品据此生成需求变更及扩展开发服务单")),
        UsesDecision("sla", ("the SLA clocks (response and resolve due times) come from decision table sla, and the "
                             "SLA replay evaluates it the same way",
                             "SLA 时限（响应和解决期限）来自决策表 sla，SLA 回放也按同样方式计算")),
    ),
    "change_request": (
        Step("change_assessment", ("the change service form shows the assessment (kind, scope, effort, decision) "
                                   "entered in step change_assessment",
                                   "需求变更服务单显示在步骤 change_assessment 中填写的评估（类型、范围、工作量、结论"
                                   "）"),
             fields=("change_kind", ("change_scope", "scope"), "effort_days", ("assessment_decision", "decision"))),
        Step("schedule_change", ("the change service form shows the schedule entered in step schedule_change",
                                 "需求变更服务单显示在步骤 schedule_change 中填写的排期"),
             fields=("planned_start", "planned_end")),
        Step("implement_change", ("the change service form and the customer's acceptance page show the resolution "
                                  "entered in step implement_change",
                                  "需求变更服务单和客户验收页面显示在步骤 implement_change 中填写的处理措施"),
             fields=("resolution",)),
        UsesDecision("entitlement", ("whether a change is free or paid is decided by decision table entitlement and "
                                     "shown on the change service form",
                                     "变更是否收费由决策表 entitlement 判定，并显示在需求变更服务单上")),
    ),
    "paid_service_negotiation": (
        Step("prepare_quote", ("the quote the customer sees (e-mail and page) and the change service form list the "
                               "items entered in step prepare_quote",
                               "客户看到的报价（邮件和页面）以及需求变更服务单列出在步骤 prepare_quote 中填写的报价项"
                               "目"),
             fields=(("quote_items", "items"),)),
        Step("quote_decision", ("the customer decides on the quote from an e-mail link: the page shows the quote only "
                                "for the customer step whose form has the field quote_decision",
                                "客户通过邮件链接对报价作出决定：只有表单含字段 quote_decision 的客户步骤才会显示报价"),
             fields=("quote_decision",), lane=CUSTOMER_LANE),
    ),
    "inspection": (
        Collects((*CHECKLIST_FIELDS, "risks", "summary"), (
            "the inspection report (系统巡检报告) is built from these fields", "系统巡检报告由这些字段生成")),
        Collects(("engineer", "visit_date"), ("the inspection report names the engineer and the visit date",
                                              "系统巡检报告写明工程师和巡检日期")),
        Collects(("signed_by",), ("the customer signs the inspection report from an e-mail link",
                                  "客户通过邮件链接签署系统巡检报告"), lane=CUSTOMER_LANE),
    ),
    "complaint": (
        Collects(("answer",), ("the customer's confirmation page shows the answer written for them",
                               "客户的确认页面显示为其撰写的答复")),
        Collects((), ("the customer confirms the answer from an e-mail link, which only a step in lane customer "
                      "sends", "客户通过邮件链接确认答复，只有客户泳道中的步骤才会发送该链接"), lane=CUSTOMER_LANE),
    ),
}

TABLES: tuple[Table, ...] = (
    Table("sla.dmn", "sla", ("respond_within", "resolve_within", "sla_calendar"),
          ("the maintenance request and the SLA replay call decision table sla and read these outputs; sla_calendar "
           "is also kept on the ticket",
           "维护请求流程和 SLA 回放调用决策表 sla 并读取这些输出列；sla_calendar 还会记录在工单上")),
    Table("entitlement.dmn", "entitlement", (),
          ("the change request calls decision table entitlement", "需求变更流程调用决策表 entitlement")),
    Table("quote_approval.dmn", "quote_approval", (),
          ("the paid-service negotiation calls decision table quote_approval",
           "有偿服务协商流程调用决策表 quote_approval")),
)


# --- checks --------------------------------------------------------------------------------------------------------

def check_tables(bundle: Bundle, docs: dict[str, XmlDoc]) -> None:
    """The product's decision tables keep their ids and outputs (checked before processes call them, so the problem
    lands on the .dmn that changed, not on the diagram that calls it)."""
    for table in TABLES:
        doc = docs.get(table.file)
        if doc is None or doc.kind != "dmn":
            continue
        decision = doc.decisions.get(table.decision)
        if decision is None:
            first = next(iter(doc.decisions), None)
            bundle.add("guard_decision_missing", doc.name, first, doc.line(first) or doc.root.sourceline,
                       dmn=doc.name, decision=table.decision, why=table.why)
            continue
        outputs = {o.get("name") for o in decision.iter() if isinstance(o.tag, str) and o.tag.endswith("}output")}
        for output in table.outputs:
            if output not in outputs:
                bundle.add("guard_decision_output", doc.name, table.decision, doc.line(table.decision),
                           decision=table.decision, output=output, why=table.why)


def check_procedures(bundle: Bundle, docs: dict[str, XmlDoc], files: dict[str, str]) -> None:
    """Each product process a file defines keeps the steps, fields, calls and decision calls the code relies on."""
    parsed = {p.process_id: p for p in bundle.processes}
    all_processes = {pid for doc in docs.values() for pid in doc.processes}
    for process_id, requirements in PROCEDURES.items():
        doc = next((d for d in docs.values() if process_id in d.processes), None)
        if doc is None:
            continue
        process = _Process(process_id, doc, parsed.get(process_id), all_processes)
        if process_id not in parsed:  # drawn, but not executable: nothing of it would run
            bundle.add("guard_not_executable", doc.name, process_id, process.line, process=process_id)
            continue
        for requirement in requirements:
            if isinstance(requirement, Step):
                _check_step(bundle, process, requirement, files)
            elif isinstance(requirement, Collects):
                _check_collects(bundle, process, requirement)
            elif isinstance(requirement, Calls):
                _check_call(bundle, process, requirement)
            else:
                _check_decision_call(bundle, process, requirement)


class _Process:
    """One product process: its XML element and the task specs Spiff parsed for it (and its embedded subprocesses)."""

    def __init__(self, process_id: str, doc: XmlDoc, parsed: Any, all_processes: set[str]) -> None:
        self.id, self.doc, self.element = process_id, doc, doc.processes[process_id]
        specs = []
        if parsed is not None:
            specs = [parsed.spec, *(s for name, s in parsed.subprocess_specs.items() if name not in all_processes)]
        self.tasks = {ts.bpmn_id: ts for spec in specs for ts in spec.task_specs.values()
                      if getattr(ts, "bpmn_id", None)}

    @property
    def line(self) -> int | None:
        return int(self.element.sourceline) if self.element.sourceline else self.doc.line(self.id)

    def user_tasks(self) -> Iterator[Any]:
        return (ts for ts in self.tasks.values() if type(ts).__name__ == "UserTask")

    def drawn(self, element_id: str) -> bool:
        return any(el.get("id") == element_id for el in self.element.iter() if isinstance(el.tag, str))


def _form(bundle: Bundle, ts: Any) -> tuple[str | None, set[str] | None]:
    """The form a user task names and its field names (None when the form is not deployed)."""
    name = ((ts.extensions or {}).get("properties", {}) or {}).get("formJsonSchemaFilename")
    schema = bundle.forms.get(name) if name else None
    return name, (_field_names(schema) if schema is not None else None)


def _field_names(schema: Any) -> set[str]:
    """Every property a form schema defines, including those of allOf/anyOf/oneOf/if/then/else branches."""
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties") or {})
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(key) or []:
            names |= _field_names(branch)
    for key in ("if", "then", "else"):
        names |= _field_names(schema.get(key))
    for branch in (schema.get("dependentSchemas") or {}).values():
        names |= _field_names(branch)
    return names


def _check_step(bundle: Bundle, process: _Process, step: Step, files: dict[str, str]) -> None:
    ts = process.tasks.get(step.id)
    if ts is None:
        kind = "guard_step_unreachable" if process.drawn(step.id) else "guard_step_missing"
        bundle.add(kind, process.doc.name, process.id, process.line, process=process.id, step=step.id, what=USER_TASK,
                   why=step.why)
        return
    where = (process.doc.name, step.id, process.doc.line(step.id))
    if type(ts).__name__ != "UserTask":
        bundle.add("guard_step_kind", *where, process=process.id, step=step.id, what=USER_TASK, why=step.why)
        return
    if step.lane and ts.lane != step.lane:
        bundle.add("guard_step_lane", *where, process=process.id, step=step.id, lane=step.lane, why=step.why)
    if not step.fields:
        return
    form, names = _form(bundle, ts)
    if form is None or names is None:
        shown = ", ".join(f if isinstance(f, str) else f[0] for f in step.fields)
        bundle.add("guard_step_form", *where, process=process.id, step=step.id, fields=shown, why=step.why)
        return
    for wanted in step.fields:
        options = (wanted,) if isinstance(wanted, str) else wanted
        if not any(o in names for o in options):
            text = files.get(form)
            line = line_of_text(text, '"properties"') if isinstance(text, str) else None
            bundle.add("guard_form_field", form, "properties", line,
                       form=form, step=step.id, process=process.id, field=options[0], why=step.why)


def _check_collects(bundle: Bundle, process: _Process, collects: Collects) -> None:
    tasks = [ts for ts in process.user_tasks() if collects.lane is None or ts.lane == collects.lane]
    where_words = (("user task in lane " + collects.lane, "泳道 " + collects.lane + " 中用户任务") if collects.lane
                   else ("user task", "用户任务"))
    if not collects.fields:
        if not tasks:
            bundle.add("guard_lane_step_missing", process.doc.name, process.id, process.line, process=process.id,
                       lane=collects.lane, why=collects.why)
        return
    collected: set[str] = set()
    for ts in tasks:
        collected |= _form(bundle, ts)[1] or set()
    for name in collects.fields:
        if name not in collected:
            bundle.add("guard_process_field", process.doc.name, process.id, process.line, process=process.id,
                       field=name, where=where_words, why=collects.why)


def _check_call(bundle: Bundle, process: _Process, calls: Calls) -> None:
    called = {el.get("calledElement") for el in process.element.iter(f"{{{BPMN_NS}}}callActivity")}
    if calls.process not in called:
        bundle.add("guard_call_missing", process.doc.name, process.id, process.line, process=process.id,
                   called=calls.process, why=calls.why)


def _check_decision_call(bundle: Bundle, process: _Process, uses: UsesDecision) -> None:
    called = {(el.text or "").strip() for el in process.element.iter(f"{{{SPIFF_NS}}}calledDecisionId")}
    if uses.decision not in called:
        bundle.add("guard_decision_call", process.doc.name, process.id, process.line, process=process.id,
                   decision=uses.decision, why=uses.why)
