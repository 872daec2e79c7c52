"""The deploy checker's words: one template per problem kind, in English and Simplified Chinese, so both languages
stay in step; and the cleaning of upstream (SpiffWorkflow, lxml) texts a process owner cannot act on as they are.

A parameter may be a pair (English, Chinese): each language takes its own half.
"""
from __future__ import annotations

import re
from typing import Any

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = {
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": "DMN 1.1",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": "DMN 1.2",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": "DMN 1.3",
}
# SpiffWorkflow 3.2 ships a DMN 1.2 schema that does not compile (its DMNDI import is missing): a DMN 1.2 file can
# never be validated, so only 1.1 and 1.3 are read.
READABLE_DMN = ("http://www.omg.org/spec/DMN/20151101/dmn.xsd", "https://www.omg.org/spec/DMN/20191111/MODEL/")

TEMPLATES: dict[str, tuple[str, str]] = {
    # files
    "unsupported_file": ("unsupported file type; upload .bpmn, .dmn or form .json files",
                         "不支持的文件类型；请上传 .bpmn 流程图、.dmn 决策表或 .json 表单文件"),
    "not_text": ("the file is not UTF-8 text (character {position}); save it as UTF-8 and upload it again",
                 "文件不是 UTF-8 文本（第 {position} 个字符）；请以 UTF-8 编码保存后重新上传"),
    "empty_file": ("the file is empty", "文件是空的"),
    "unexpected": ("this part of the file could not be read: {detail}", "无法读取文件的这一部分：{detail}"),
    "missing_attribute": ("{element} has no attribute '{attribute}', which the engine needs",
                          "{element} 缺少引擎需要的属性 '{attribute}'"),
    # XML
    "xml_syntax": ("not well-formed XML: {detail}", "XML 格式有误：{detail}"),
    "xml_doctype": ("the file contains a DOCTYPE (document type or entity declarations); files saved by a modeler "
                    "never do, so it is refused unread: remove the <!DOCTYPE ...> block",
                    "文件包含 DOCTYPE（文档类型或实体声明）；建模工具保存的文件不会包含它，因此不予读取并拒绝："
                    "请删除 <!DOCTYPE ...> 部分"),
    "schema": ("does not follow the {standard} schema: {detail}", "不符合 {standard} 规范：{detail}"),
    "not_bpmn": ("this is not a BPMN 2.0 diagram: its root element is {root}; a diagram starts with "
                 f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}">',
                 "这不是 BPMN 2.0 流程图：根元素是 {root}；流程图应以 "
                 f'<bpmn:definitions xmlns:bpmn="{BPMN_NS}"> 开头'),
    "bpmn_is_dmn": ("this is a DMN decision table, not a BPMN diagram: upload it with the extension .dmn",
                    "这是 DMN 决策表，不是 BPMN 流程图：请以 .dmn 扩展名上传"),
    "not_dmn": ("this is not a DMN decision table: its root element is {root}; a table starts with "
                '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"> (DMN 1.3)',
                "这不是 DMN 决策表：根元素是 {root}；决策表应以 "
                '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">（DMN 1.3）开头'),
    "dmn_is_bpmn": ("this is a BPMN diagram, not a DMN decision table: upload it with the extension .bpmn",
                    "这是 BPMN 流程图，不是 DMN 决策表：请以 .bpmn 扩展名上传"),
    "dmn_version": ("the DMN namespace {namespace} is not supported; save the table as DMN 1.3 "
                    "(Camunda Modeler 5 or later, dmn-js)",
                    "不支持 DMN 命名空间 {namespace}；请将决策表另存为 DMN 1.3（Camunda Modeler 5 及以上、dmn-js）"),
    "dmn_prefix": ("the DMN elements carry the prefix '{prefix}:'; the engine reads DMN files whose elements have no "
                   "prefix or the prefix 'dmn:': save the table again from a DMN modeler",
                   "DMN 元素使用了前缀 '{prefix}:'；引擎只读取无前缀或前缀为 'dmn:' 的 DMN 文件：请用 DMN 建模工具重"
                   "新保存"),
    # structure
    "no_process": ("the diagram holds no process (bpmn:process); draw the process before uploading",
                   "流程图中没有流程（bpmn:process）；请先画出流程再上传"),
    "not_executable": ("process '{process}' is not marked executable (isExecutable=\"false\"), so nothing in this file "
                       "would run; tick \"Executable\" in the modeler",
                       "流程 '{process}' 未标记为可执行（isExecutable=\"false\"），此文件中没有任何内容会运行；"
                       "请在建模工具中勾选“可执行”"),
    "duplicate_process": ("process id '{id}' is defined in both {here} and {other}; a process id belongs to exactly "
                          "one file: rename it in one of them, or upload the file under the name {other} to replace "
                          "it",
                          "流程 ID '{id}' 同时定义在 {here} 和 {other} 中；一个流程 ID 只能属于一个文件："
                          "请在其中一个文件中改名，或以文件名 {other} 上传以替换它"),
    "duplicate_decision": ("decision id '{id}' is defined in both {here} and {other}; a decision id belongs to exactly "
                           "one file: rename it in one of them, or upload the file under the name {other} to replace "
                           "it",
                           "决策表 ID '{id}' 同时定义在 {here} 和 {other} 中；一个决策表 ID 只能属于一个文件："
                           "请在其中一个文件中改名，或以文件名 {other} 上传以替换它"),
    "dmn_multiple_decisions": ("the file holds {count} decisions ({ids}); the engine reads one decision table per "
                               "file: put each decision in its own .dmn file",
                               "文件中有 {count} 个决策（{ids}）；引擎每个文件只读取一张决策表：请把每个决策放入单独"
                               "的 .dmn 文件"),
    "dmn_no_decision": ("the file holds no decision; add a decision with a decision table",
                        "文件中没有决策；请添加一个带决策表的决策"),
    "dmn_no_table": ("decision '{decision}' has no decision table; the engine runs decision tables only "
                     "(no literal expressions or requirement diagrams)",
                     "决策 '{decision}' 没有决策表；引擎只执行决策表（不支持字面表达式或需求图）"),
    "dmn_hit_policy": ("decision table '{table}' uses hit policy {policy}, which the engine does not apply; "
                       "use UNIQUE, FIRST, ANY or COLLECT (without aggregation)",
                       "决策表 '{table}' 使用命中策略 {policy}，引擎不支持；请使用 UNIQUE、FIRST、ANY 或 COLLECT（不"
                       "带聚合）"),
    "data_store": ("data store '{name}' is not supported: keep case data in forms and task data instead",
                   "不支持数据存储 '{name}'：请把业务数据保存在表单和任务数据中"),
    "service_task": ("service task '{name}' is not supported: this product calls no external services from diagrams; "
                     "use a script task or a user task",
                     "不支持服务任务 '{name}'：本产品的流程图不调用外部服务；请改用脚本任务或用户任务"),
    "called_process_missing": ("call activity '{name}' calls process '{process}', which is not deployed; upload the "
                               "file that defines it, or correct the called element",
                               "调用活动 '{name}' 调用的流程 '{process}' 未部署；请上传定义它的文件，或更正被调用的流"
                               "程 ID"),
    "decision_not_found": ("business rule task '{name}' calls decision table '{decision}', which is not deployed; "
                           "upload the .dmn file that defines it",
                           "业务规则任务 '{name}' 调用的决策表 '{decision}' 未部署；请上传定义它的 .dmn 文件"),
    "decision_not_named": ("business rule task '{name}' names no decision table (spiffworkflow:calledDecisionId); "
                           "Camunda's camunda:decisionRef is not read",
                           "业务规则任务 '{name}' 没有指定决策表（spiffworkflow:calledDecisionId）；"
                           "不读取 Camunda 的 camunda:decisionRef"),
    "gateway_flow_condition": ("sequence flow '{name}' leaves an exclusive gateway without a condition and is not its "
                               "default flow; give it a condition or make it the default",
                               "顺序流 '{name}' 从排他网关流出，但既没有条件也不是默认流；请为它设置条件或设为默认流"),
    "task_multiple_outgoing": ("step '{name}' has more than one outgoing sequence flow; put a gateway after it",
                               "步骤 '{name}' 有多条流出的顺序流；请在其后加一个网关"),
    "no_start_event": ("process '{name}' has no start event; every process needs one",
                       "流程 '{name}' 没有开始事件；每个流程都需要一个开始事件"),
    "subprocess_no_end": ("subprocess '{name}' has no end event; every subprocess needs one",
                          "子流程 '{name}' 没有结束事件；每个子流程都需要一个结束事件"),
    "identifier_missing": ("a {what} has no id; give it one in the modeler", "有一个{what}没有 ID；请在建模工具中为它"
                                                                             "设置 ID"),
    "unsupported_element": ("{tag} '{name}' is not supported by the engine; draw it with other elements",
                            "引擎不支持 {tag} '{name}'；请改用其他元素绘制"),
    "called_not_executable": ("process '{process}' is called but not marked executable (isExecutable=\"false\"); "
                              "tick \"Executable\" in the modeler",
                              "流程 '{process}' 被调用，但未标记为可执行（isExecutable=\"false\"）；请在建模工具中勾"
                              "选“可执行”"),
    "ref_dangling": ("{what} '{id}' has {attribute}='{ref}', which is no element of the diagram",
                     "{what} '{id}' 的 {attribute}='{ref}' 不是流程图中的元素"),
    "spiff": ("{detail}", "流程引擎无法接受此处：{detail}"),
    "node_unconnected": ("step '{id}' is not connected: no flow leads to it, so no case ever reaches it; draw a "
                         "sequence flow to it or delete it",
                         "步骤 '{id}' 没有连接：没有任何顺序流指向它，工单永远不会到达它；请画一条指向它的顺序流，"
                         "或删除它"),
    "flow_dangling": ("sequence flow '{flow}' has {end}='{ref}', which is no element of the diagram",
                      "顺序流 '{flow}' 的 {end}='{ref}' 不是流程图中的元素"),
    # expressions and timers
    "script_format": ("script task '{name}' is written in {format}; scripts here are Python: rewrite it in Python "
                      "and set the script format to python",
                      "脚本任务 '{name}' 使用 {format} 编写；这里的脚本是 Python：请用 Python 重写，并把脚本格式设为 "
                      "python"),
    "code_refused": ("{what} is refused: {reason} in {source}", "{what}被拒绝：{reason}（{source}）"),
    "juel": ("{what} is written in JUEL ({source}), as Camunda does; expressions here are Python: write {suggestion}",
             "{what}使用了 Camunda 的 JUEL 写法（{source}）；这里的表达式是 Python：请写成 {suggestion}"),
    "feel": ("{what} {source} is FEEL ({feature}); decision tables here use Python: write {suggestion}",
             "{what} {source} 是 FEEL 写法（{feature}）；这里的决策表使用 Python：请写成 {suggestion}"),
    "timer_unquoted": ('timer {source} is an unquoted ISO literal; timer expressions are Python, write "{value}" with '
                       "quotes",
                       '定时器 {source} 是未加引号的 ISO 字面量；定时器表达式是 Python，请写成带引号的 "{value}"'),
    "timer_refused": ("timer expression {source} is refused: {reason}", "定时器表达式 {source} 被拒绝：{reason}"),
    "timer_not_text": ("timer expression must give an ISO 8601 text, got {value}",
                       "定时器表达式必须得出 ISO 8601 文本，实际为 {value}"),
    "timer_invalid": ("timer value {value} is not valid ISO 8601: {reason}",
                      "定时器的值 {value} 不是有效的 ISO 8601：{reason}"),
    "timer_empty": ("the timer of '{name}' has no expression; write a date-time (timeDate), a duration such as "
                    '"PT4H" (timeDuration) or a cycle such as "R3/PT4H" (timeCycle)',
                    "'{name}' 的定时器没有表达式；请填写日期时间（timeDate）、时长（timeDuration，例如 \"PT4H\"）"
                    "或循环（timeCycle，例如 \"R3/PT4H\"）"),
    "timer_cron": ("timer {source} is a cron expression, which the engine does not read; {advice}",
                   "定时器 {source} 是 cron 表达式，引擎不读取它；{advice}"),
    "timer_kind": ("{timer} holds {shape} ({source}); {advice}", "{timer}的值 {source} 是{shape}；{advice}"),
    "name_unknown": ("{what} reads '{name}', which no step, form or start variable of this procedure sets{hint}",
                     "{what}读取了 '{name}'，但本流程的步骤、表单和启动变量都没有设置它{hint}"),
    "name_not_allowed": ("{what} uses '{name}', which diagram scripts may not use: the script sandbox offers no "
                         "files, imports, printing or introspection; use plain Python and the engine's functions",
                         "{what}使用了 '{name}'，流程图脚本不能使用它：脚本沙箱不提供文件、导入、打印或自省功能；"
                         "请只使用普通 Python 和引擎提供的函数"),
    # user tasks and forms
    "lane_unknown": ("user task '{name}' is in lane {lane}; put it in a lane named after a role: {roles}",
                     "用户任务步骤 '{name}' 位于泳道 {lane}；请放入以角色命名的泳道：{roles}"),
    "lane_not_role": ("lane '{id}' is named {lane}, which is no role; name it after a role: {roles}",
                      "泳道 '{id}' 的名称是 {lane}，这不是角色；请以角色命名：{roles}"),
    "lane_missing": ("user task '{name}' is in no lane; put it in a lane named after a role: {roles}",
                     "用户任务步骤 '{name}' 不在任何泳道中；请放入以角色命名的泳道：{roles}"),
    "form_missing": ("user task '{id}' names no form (property formJsonSchemaFilename)",
                     "用户任务步骤 '{id}' 没有指定表单（属性 formJsonSchemaFilename）"),
    "form_camunda": ("user task '{id}' names no form (property formJsonSchemaFilename); its Camunda form {form} is not "
                     "read by this product",
                     "用户任务步骤 '{id}' 没有指定表单（属性 formJsonSchemaFilename）；本产品不读取其 Camunda 表单"
                     " {form}"),
    "form_not_deployed": ("user task '{id}' names form {form}, which is not deployed",
                          "用户任务步骤 '{id}' 指定的表单 {form} 未部署"),
    "json_invalid": ("not valid JSON at line {row}, column {column}: {detail}",
                     "不是有效的 JSON（第 {row} 行第 {column} 列）：{detail}"),
    "json_too_deep": ("the JSON is nested too deeply to be a form", "JSON 嵌套过深，不可能是表单"),
    "json_schema_invalid": ("not a valid JSON Schema at {where}: {detail}", "在 {where} 处不是有效的 JSON Schema"
                                                                            "：{detail}"),
    "form_not_object": ('a form schema must have "type": "object"', '表单的 JSON Schema 必须是 "type": "object"'),
    # the product's own steps (engine/guard.py)
    "guard_not_executable": ("process '{process}' must stay executable (isExecutable=\"true\"): the product starts "
                             "and calls it",
                             "流程 '{process}' 必须保持可执行（isExecutable=\"true\"）：产品会启动并调用它"),
    "guard_step_missing": ("process '{process}' must keep step '{step}' ({what}): {why}",
                           "流程 '{process}' 必须保留步骤 '{step}'（{what}）：{why}"),
    "guard_step_unreachable": ("step '{step}' of process '{process}' is drawn, but no sequence flow from the start "
                               "reaches it; the product needs it ({what}): {why}",
                               "流程 '{process}' 的步骤 '{step}' 虽已画出，但从开始事件没有顺序流能到达它；产品需要此"
                               "步骤（{what}）：{why}"),
    "guard_lane_step_missing": ("process '{process}' must keep a user task in lane '{lane}': {why}",
                                "流程 '{process}' 必须在泳道 '{lane}' 中保留一个用户任务：{why}"),
    "guard_step_kind": ("step '{step}' of process '{process}' must stay a {what}: {why}",
                        "流程 '{process}' 的步骤 '{step}' 必须保持为{what}：{why}"),
    "guard_step_lane": ("step '{step}' of process '{process}' must stay in lane '{lane}': {why}",
                        "流程 '{process}' 的步骤 '{step}' 必须留在泳道 '{lane}'：{why}"),
    "guard_step_form": ("step '{step}' of process '{process}' must keep a form with the field(s) {fields}: {why}",
                        "流程 '{process}' 的步骤 '{step}' 必须保留含字段 {fields} 的表单：{why}"),
    "guard_form_field": ("form '{form}' of step '{step}' (process '{process}') must keep field '{field}': {why}",
                         "步骤 '{step}'（流程 '{process}'）的表单 '{form}' 必须保留字段 '{field}'：{why}"),
    "guard_field_type": ("form '{form}' of step '{step}' (process '{process}'): field '{field}' must be {expected}: "
                         "{why}",
                         "步骤 '{step}'（流程 '{process}'）的表单 '{form}'：字段 '{field}' 必须是{expected}：{why}"),
    "guard_process_field": ("process '{process}' must collect field '{field}' in the form of a {where}: {why}",
                            "流程 '{process}' 必须在{where}的表单中收集字段 '{field}'：{why}"),
    "guard_call_missing": ("process '{process}' must keep a call activity that calls process '{called}': {why}",
                           "流程 '{process}' 必须保留一个调用流程 '{called}' 的调用活动：{why}"),
    "guard_decision_call": ("process '{process}' must keep a business rule task that calls decision table "
                            "'{decision}': {why}",
                            "流程 '{process}' 必须保留一个调用决策表 '{decision}' 的业务规则任务：{why}"),
    "guard_decision_missing": ("{dmn} must define decision table '{decision}': {why}",
                               "{dmn} 必须定义决策表 '{decision}'：{why}"),
    "table_output_empty": ("rule '{rule}' of decision table '{decision}' gives no {output}; {expected}: {why}",
                           "决策表 '{decision}' 的规则 '{rule}' 没有给出 {output}；{expected}：{why}"),
    "table_output_unquoted": ("rule '{rule}' of decision table '{decision}' gives {output} as {source}, which Python "
                              "reads as a variable name; write {suggestion}: {why}",
                              "决策表 '{decision}' 的规则 '{rule}' 把 {output} 写成了 {source}，Python 会把它当作"
                              "变量名；请写成 {suggestion}：{why}"),
    "table_output_invalid": ("rule '{rule}' of decision table '{decision}' gives {output} = {value}, {reason}; "
                             "{expected}: {why}",
                             "决策表 '{decision}' 的规则 '{rule}' 给出的 {output} = {value}，{reason}；{expected}："
                             "{why}"),
    "guard_decision_output": ("decision table '{decision}' must keep output '{output}': {why}",
                              "决策表 '{decision}' 必须保留输出列 '{output}'：{why}"),
}


# Problems after which the later steps still run (the others mean the engine cannot read a diagram): reported
# with whatever else is wrong, in one pass.
SOFT_KINDS = frozenset({"node_unconnected", "table_output_empty", "table_output_unquoted", "table_output_invalid"})


def render(kind: str, **params: Any) -> tuple[str, str]:
    """The English and Chinese message of `kind`; a (English, Chinese) pair parameter gives each its half."""
    en, zh = TEMPLATES[kind]
    return (en.format(**{k: _half(v, 0) for k, v in params.items()}),
            zh.format(**{k: _half(v, 1) for k, v in params.items()}))


def _half(value: Any, index: int) -> Any:
    return value[index] if isinstance(value, tuple) and len(value) == 2 else value


# --- upstream texts ------------------------------------------------------------------------------------------------

_NAMESPACES = {BPMN_NS: "bpmn:", SPIFF_NS: "spiffworkflow:", **{ns: "dmn:" for ns in DMN_NAMESPACES},
               "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi:", "http://camunda.org/schema/1.0/bpmn": "camunda:"}
_CLARK = re.compile(r"\{([^{}\s]+)\}(?=[A-Za-z_])")
_REPR = re.compile(r"<[A-Za-z_][\w.]*(?: [\w.]+)* object at 0x[0-9a-fA-F]+>|<(?:class|function|module|bound method) "
                   r"[^<>]*>|\bat 0x[0-9a-fA-F]+\b")
_EXCEPTION_REPR = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning)\((.*?)\)")
_EXCEPTION_PREFIX = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning):\s*")
_DOTTED = re.compile(r"\b(?:SpiffWorkflow|lxml|builtins|engine|RestrictedPython)(?:\.\w+)*\.(?=\w)")
_CAMEL = re.compile(r"\b(?:[A-Z][a-z]+)+(?:Task|Event|Gateway|Activity|Definition|Spec|Parser|Workflow)\b")
_SPACES = re.compile(r"[ \t]+")
_EMPTY_PARENS = re.compile(r"\(\s*\)|\[\s*\]|''|\"\"")
_MAX = 400


def clean_upstream(text: str) -> str:
    """An upstream text without Python reprs, module paths, class names or tracebacks, and with `bpmn:` prefixes
    instead of `{namespace}` names; at most a few hundred characters."""
    text = str(text).split("Traceback (most recent call last)")[0]
    text = _CLARK.sub(lambda m: _NAMESPACES.get(m.group(1), ""), text)
    text = _REPR.sub("", text)
    text = _EXCEPTION_REPR.sub(lambda m: m.group(1).strip("'\""), text)
    text = _EXCEPTION_PREFIX.sub("", text)
    text = _DOTTED.sub("", text)
    text = _CAMEL.sub(lambda m: _words(m.group(0)), text)
    text = _EMPTY_PARENS.sub("", text)
    text = " ".join(_SPACES.sub(" ", line).strip() for line in text.splitlines() if line.strip())
    text = text.strip().rstrip(".:;, ").strip()
    if len(text) > _MAX:
        text = text[:_MAX].rsplit(" ", 1)[0] + " …"
    return text


def _words(camel: str) -> str:
    """`ExclusiveGateway` -> 'exclusive gateway'; the spec class names Spiff puts in its messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower().replace(" spec", "").replace("none task", "task")


# Upstream messages a process owner meets often: the kind and the parameters their words give.
UPSTREAM: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Data Store with name (?P<name>.+?) has no implementation"), "data_store"),
    (re.compile(r"A Service Task must have an operator"), "service_task"),
    (re.compile(r"The process '(?P<process>[^']*)' was not found"), "called_process_missing"),
    (re.compile(r'No DMN Diagram available with id "None"'), "decision_not_named"),
    (re.compile(r'No DMN Diagram available with id "(?P<decision>[^"]*)"'), "decision_not_found"),
    (re.compile(r"Non-default exclusive outgoing sequence flow without condition"), "gateway_flow_condition"),
    (re.compile(r"Multiple outgoing flows are not supported for tasks"), "task_multiple_outgoing"),
    (re.compile(r"No start event found"), "no_start_event"),
    (re.compile(r"A sub ?workflow must contain an end event", re.I), "subprocess_no_end"),
    (re.compile(r"(?P<what>Message|Signal|Error|Escalation|Correlation|Data Store) identifier is missing"),
     "identifier_missing"),
    (re.compile(r"There is no support implemented for this task type"), "unsupported_element"),
    (re.compile(r"Process (?P<process>\S+) is not executable"), "called_not_executable"),
    (re.compile(r"Unknown Time Specification"), "timer_empty"),
]
_THINGS = {"Message": ("message", "消息"), "Signal": ("signal", "信号"), "Error": ("error", "错误"),
           "Escalation": ("escalation", "升级"), "Correlation": ("correlation", "关联"),
           "Data Store": ("data store", "数据存储")}


def upstream_kind(message: str) -> tuple[str, dict[str, Any]]:
    """The template kind for an upstream message and the parameters read from it ('spiff' with the cleaned text
    when no template fits)."""
    for pattern, kind in UPSTREAM:
        match = pattern.search(message)
        if match:
            params: dict[str, Any] = {k: v for k, v in match.groupdict().items() if v is not None}
            if "what" in params:
                params["what"] = _THINGS.get(params["what"], params["what"])
            return kind, params
    return "spiff", {"detail": clean_upstream(message) or "the engine refused this element"}
