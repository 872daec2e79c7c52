"""The product's own procedures as data: the steps, form fields, calls and decision tables the code relies on, and
why (both languages). engine/guard.py checks a bundle against them.

Sources: api/ and engine/ read task ids `triage`, `customer_acceptance`, `callback` (the API contract),
`satisfaction_survey` (portal.py), `quote_decision`, `prepare_quote`, `change_assessment`, `schedule_change`,
`implement_change` (records.py), form fields (projection.py _PLAIN_FIELDS, records.py, inspections.py
CHECKLIST_FIELDS, services/links.py _WORK_FIELDS, api/customer.py `score`), the SLA outputs (sla_replay.py).
"""
from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .effects import CUSTOMER_LANE
from .inspections import CHECKLIST_FIELDS
from .sla_replay import output_problem

Why = tuple[str, str]  # (English, Chinese)
Field = str | tuple[str, ...]  # a tuple: any one of these names (fields renamed over time still read)
USER_TASK = ("user task", "用户任务")


@dataclass(frozen=True)
class FieldType:
    """The JSON type of a form field the code relies on, and the values the form must (or may only) offer."""

    field: str
    type: str  # a JSON Schema type
    expected: Why  # what the field must be, in words
    why: Why  # what the product does with it
    values: tuple[Any, ...] = ()  # the form must offer each of these
    within: tuple[Any, ...] = ()  # the form may offer nothing else (an enumeration, or minimum and maximum)


@dataclass(frozen=True)
class Step:
    """A user task the code finds by its id, with the lane and form fields (and their types) it relies on."""

    id: str
    why: Why
    fields: tuple[Field, ...] = ()
    lane: str | None = None
    types: tuple[FieldType, ...] = ()


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
class Output:
    """What every rule of a product decision table must give for one output the code reads.

    `check(value)` says why a literal value cannot work (None when it can); `required`: every rule gives a literal
    (the SLA terms), else only the rules that give a literal, or a bare word, are checked."""

    name: str
    expected: Why
    why: Why
    check: Callable[[str, str], Why | None]  # (output name, cell text of a literal) -> why not, or None
    required: bool = False


@dataclass(frozen=True)
class Table:
    """A product decision table: the file that holds it must keep its id and the outputs the code reads."""

    file: str
    decision: str
    outputs: tuple[str, ...]
    why: Why
    values: tuple[Output, ...] = ()


Requirement = Step | Collects | Calls | UsesDecision

PROCEDURES: dict[str, tuple[Requirement, ...]] = {
    "maintenance_request": (
        Step("triage", ("the task list and the API name this step 'triage', and the ticket's category, severity and "
                        "on-site flag are copied from its form to the ticket, the SLA and the reports",
                        "任务列表和 API 以 'triage' 识别此步骤，工单的类别、故障等级和现场/远程标志从它的表单复制到工"
                        "单、SLA 和报表"),
             fields=("category", "severity", "onsite"), types=(
                 FieldType("category", "string", ("a string offering the values question, fault, change and complaint",
                                                  "字符串，且提供 question、fault、change、complaint 这些取值"),
                           ("the maintenance request routes the ticket by these values (question, fault, change, "
                            "complaint), and the ticket and the reports keep the category as text",
                            "维护请求按这些取值（question、fault、change、complaint）分流工单，工单和报表以文本记录类别"),
                           values=("question", "fault", "change", "complaint")),
                 FieldType("severity", "integer", ("an integer from 1 to 3", "1 到 3 的整数"),
                           ("the SLA table matches severity 1, 2 or 3 as a number, and the ticket stores it as an "
                            "integer", "SLA 表按数字 1、2、3 匹配故障等级，工单以整数保存它"),
                           within=(1, 2, 3)),
                 FieldType("onsite", "boolean", ("a boolean (true or false)", "布尔值（true 或 false）"),
                           ("the SLA table picks the on-site or remote terms by true or false, and the ticket stores "
                            "it as a yes/no flag", "SLA 表按 true 或 false 选择现场或远程时限，工单以是/否保存它")))),
        Step("customer_acceptance", ("the product opens the customer's acceptance page (e-mail link) from step "
                                     "customer_acceptance and keeps the customer's answer (accepted, reason) in the "
                                     "service record",
                                     "产品根据步骤 customer_acceptance 打开客户的验收页面（邮件链接），并把客户的答复"
                                     "（accepted、reason）记入服务单"),
             fields=("accepted", "reason"), lane=CUSTOMER_LANE, types=(
                 FieldType("accepted", "boolean", ("a boolean (true or false)", "布尔值（true 或 false）"),
                           ("the maintenance request closes the ticket when accepted is true and sends the work back "
                            "when it is false; the service record shows the answer",
                            "accepted 为 true 时维护请求关闭工单，为 false 时退回处理；服务单显示客户的答复")),)),
        Step("callback", ("the API names this step 'callback', and its satisfaction score is copied to the ticket and "
                          "the monthly report",
                          "API 以 'callback' 识别此步骤，其满意度评分会复制到工单和月度报告"),
             fields=("recurred", "satisfaction", "comment"), types=(
                 FieldType("recurred", "boolean", ("a boolean (true or false)", "布尔值（true 或 false）"),
                           ("the maintenance request reopens the ticket when recurred is true",
                            "recurred 为 true 时维护请求会重新打开工单")),
                 FieldType("satisfaction", "integer", ("an integer", "整数"),
                           ("the score is stored on the ticket as a number and averaged in the monthly report",
                            "评分以数字保存在工单上，并在月度报告中求平均")))),
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

def _sla_value(name: str, text: str) -> Why | None:
    """An SLA term as the deadline computation takes it (engine/sla_replay.py output_problem, which the what-if
    replay applies too)."""
    problem = output_problem(name, text)
    if problem is None or problem.kind != "invalid":
        return None
    if name == "sla_calendar":
        return (f"a calendar the engine does not know ({problem.reason})", f"这不是引擎已知的日历（{problem.reason}）")
    return (f"which the business calendar does not accept as a duration ({problem.reason})",
            f"业务日历不接受它作为时长（{problem.reason}）")


def _one_of(*allowed: Any) -> Callable[[str, str], Why | None]:
    def check(_name: str, text: str) -> Why | None:
        value = ast.literal_eval(text.strip())
        if any(type(value) is type(a) and value == a for a in allowed):
            return None
        return ("which is none of the values the procedure tests", "这不是流程判断所用的取值")
    return check


def _text_value(_name: str, text: str) -> Why | None:
    if isinstance(ast.literal_eval(text.strip()), str):
        return None
    return ("which is no text", "这不是文本")


_SLA_WHY = ("every new maintenance request computes its response and resolve deadlines from these outputs (and the "
            "SLA replay too): a value the engine cannot use fails the ticket as it starts",
            "每张新维护请求都据这些输出计算响应和解决期限（SLA 回放亦然）：引擎无法使用的值会使工单在启动时失败")
_DURATION = ('write an ISO 8601 duration in quotes, such as "PT4H" (hours), "P3D" (working days) or "PT30M"',
             '请写带引号的 ISO 8601 时长，例如 "PT4H"（小时）、"P3D"（工作日）或 "PT30M"')

TABLES: tuple[Table, ...] = (
    Table("sla.dmn", "sla", ("respond_within", "resolve_within", "sla_calendar"),
          ("the maintenance request and the SLA replay call decision table sla and read these outputs; sla_calendar "
           "is also kept on the ticket",
           "维护请求流程和 SLA 回放调用决策表 sla 并读取这些输出列；sla_calendar 还会记录在工单上"),
          values=(Output("respond_within", _DURATION, _SLA_WHY, _sla_value, required=True),
                  Output("resolve_within", _DURATION, _SLA_WHY, _sla_value, required=True),
                  Output("sla_calendar", ('write a business calendar in quotes: "working" (working hours) or "24x7"',
                                          '请写带引号的业务日历："working"（工作时间）或 "24x7"'),
                         _SLA_WHY, _sla_value, required=True))),
    Table("entitlement.dmn", "entitlement", (),
          ("the change request calls decision table entitlement", "需求变更流程调用决策表 entitlement"),
          values=(Output("charge", ('write "free" or "paid"', '请写 "free" 或 "paid"'),
                         ("the change request takes the free path on charge == 'free' and negotiates a price "
                          "otherwise; the change service form shows it",
                          "需求变更流程在 charge == 'free' 时走免费路径，否则进入报价；需求变更服务单显示该值"),
                         _one_of("free", "paid")),
                  Output("charge_reason", ("write a text in quotes", "请写带引号的文本"),
                         ("staff and the customer read the reason on the change service form",
                          "员工和客户在需求变更服务单上看到该理由"), _text_value))),
    Table("quote_approval.dmn", "quote_approval", (),
          ("the paid-service negotiation calls decision table quote_approval",
           "有偿服务协商流程调用决策表 quote_approval"),
          values=(Output("quote_approval_needed", ("write True or False", "请写 True 或 False"),
                         ("the paid-service negotiation asks a manager to approve the quote when it is True",
                          "为 True 时有偿服务协商流程会请经理审批报价"), _one_of(True, False)),)),
)


def product_steps(process_id: str) -> frozenset[str]:
    """The ids of the user tasks the product finds by id in process `process_id` (the guard reports them when they
    are missing or cut off, saying why the product needs them)."""
    return frozenset(r.id for r in PROCEDURES.get(process_id, ()) if isinstance(r, Step))


