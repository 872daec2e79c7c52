"""Where an exception raised while checking uploaded files points: the file, the element and its line, found from
the exception's own attributes, the XML element its traceback was working on, or an id its message names; and the
words for it, from a template when one fits, without Python internals otherwise."""
from __future__ import annotations

import re
from typing import Any

from lxml import etree
from SpiffWorkflow.exceptions import SpiffWorkflowException

from .checker_bundle import Bundle
from .checker_messages import BPMN_NS, clean_upstream, upstream_kind
from .checker_xml import XmlDoc, line_of, short_tag, with_id


def upstream(bundle: Bundle, exc: SpiffWorkflowException, file: str, docs: dict[str, XmlDoc],
             fallback: str | None = None) -> tuple[str, str | None, str]:
    """A Spiff ValidationException as a located problem, in a template's words when one fits; gives the file and
    element id it was reported at, and the template's kind."""
    cause = exc.__cause__ or exc.__context__
    if cause is not None and _WRAPPED.match(str(exc.args[0]) if exc.args else str(exc)):
        # Spiff wraps whatever its node parsers raise as ValidationException("KeyError('id')") at the parent node;
        # the original knows the element it was reading.
        return (*unexpected(bundle, cause, file, docs, fallback=getattr(exc, "id", None) or fallback), "unexpected")
    kind, params = upstream_kind(str(exc))
    file, element, element_id, line = _locate(exc, file, docs, fallback, params)
    element = with_id(element) if element is not None else None
    if kind == "called_process_missing":
        caller = _find_caller(docs, params.get("process", ""))
        if caller is not None:
            file, element, element_id, line = caller
    if kind in ("data_store",) and element is None:
        found = _find_by_name(docs.get(file), params.get("name", ""))
        if found is not None:
            element, element_id, line = found, found.get("id"), found.sourceline
    name = (element.get("name") if element is not None else None) or element_id or getattr(exc, "name", "") or ""
    params.setdefault("name", name)
    params.setdefault("tag", short_tag(element) if element is not None else getattr(exc, "tag", "") or "element")
    bundle.add(kind, file, element_id, line, **params)
    return file, element_id, kind


def unexpected(bundle: Bundle, exc: BaseException, file: str, docs: dict[str, XmlDoc],
                fallback: str | None = None) -> tuple[str, str | None]:
    """Anything else raised while checking: located as well as can be, in words without Python internals; gives
    the file and element id it was reported at."""
    file, element, element_id, line = _locate(exc, file, docs, fallback, {})
    if isinstance(exc, KeyError) and element is not None and exc.args and isinstance(exc.args[0], str):
        bundle.add("missing_attribute", file, element_id, line, element=short_tag(element), attribute=exc.args[0])
        return file, element_id
    if isinstance(exc, IndexError | StopIteration | KeyError):
        detail: Any = ("an element the engine needs is missing or incomplete", "缺少引擎需要的元素，或元素不完整")
    elif isinstance(exc, AttributeError | TypeError | etree.XPathError):
        detail = ("its structure is not what the engine expects", "其结构不符合引擎的要求")
    elif isinstance(exc, RecursionError | MemoryError):
        detail = ("it is nested too deeply or is too large", "嵌套过深或内容过大")
    else:
        detail = clean_upstream(str(exc)) or ("the engine refused it", "引擎拒绝了它")
    bundle.add("unexpected", file, element_id, line, detail=detail)
    return file, element_id


def _locate(exc: BaseException, file: str, docs: dict[str, XmlDoc], fallback: str | None,
            params: dict[str, str]) -> tuple[str, Any, str | None, int | None]:
    """(file, element, element id, line) for an exception: its own file/id/line, else the innermost XML element in
    its traceback (the element id is then that of its nearest ancestor with one), else an id its message names,
    else `fallback`."""
    file_name = getattr(exc, "file_name", "") or ""
    if file_name in docs:
        file = file_name
    element = None
    element_id = getattr(exc, "id", "") or None
    if element_id is None:
        element = _traceback_element(exc)
        if element is not None:
            owner = next((d for d in docs.values() if d.root is element.getroottree().getroot()), None)
            file = owner.name if owner else file
            named = with_id(element)
            return file, element, named.get("id") if named is not None else None, element.sourceline
    if element_id is None:
        element_id = _id_in_message(str(exc), docs.get(file), params)
    element_id = element_id or fallback
    doc = docs.get(file)
    if (doc is None or element_id not in doc.by_id) and element_id:
        doc = next((d for d in docs.values() if element_id in d.by_id), doc)
        file = doc.name if doc is not None else file
    if doc is not None:
        element = doc.by_id.get(element_id or "")
    line = positive_int(getattr(exc, "line_number", None)) or (doc.line(element_id) if doc else None)
    return file, element, element_id, line or (line_of(doc.text, element_id) if doc else None)


def _traceback_element(exc: BaseException) -> Any:
    """The XML element the innermost frame of `exc`'s traceback was working on."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        values = list(frame.f_locals.values())
        elements = [v for v in values if _is_element(v)]
        if elements:  # the most specific one: a loop variable rather than the document it walks
            return max(elements, key=lambda el: sum(1 for _ in el.iterancestors()))
        # Spiff's node parsers keep the element they parse on `self.node`.
        nodes = [getattr(v, "node", None) for v in values if not isinstance(v, type)]
        node = next((n for n in nodes if _is_element(n)), None)
        if node is not None:
            return node
    return None


def _is_element(value: Any) -> bool:
    return isinstance(value, etree._Element) and isinstance(value.tag, str)


_WRAPPED = re.compile(r"^\w+(?:Error|Exception|Exit|Interrupt)\(.*\)$", re.S)
_QUOTED = re.compile(r"'([^'\s]+)'|\"([^\"\s]+)\"")


def _id_in_message(message: str, doc: XmlDoc | None, params: dict[str, str]) -> str | None:
    if doc is None:
        return None
    for candidate in [*params.values(), *(a or b for a, b in _QUOTED.findall(message))]:
        if candidate in doc.by_id:
            return candidate
    return None


def _find_caller(docs: dict[str, XmlDoc], process_id: str) -> tuple[str, Any, str | None, int | None] | None:
    """The call activity that calls `process_id` (Spiff names the missing process, located at the caller's process)."""
    for doc in docs.values():
        for element in doc.root.iter(f"{{{BPMN_NS}}}callActivity"):
            if element.get("calledElement") == process_id:
                return doc.name, element, element.get("id"), element.sourceline
    return None


def _find_by_name(doc: XmlDoc | None, name: str) -> Any:
    if doc is None or not name:
        return None
    return next((el for el in doc.root.iter(etree.Element) if el.get("name") == name and el.get("id")), None)


def positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None

