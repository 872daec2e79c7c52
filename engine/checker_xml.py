"""Reading uploaded BPMN/DMN text safely (no DTDs, no entities, no network), and finding where things stand in it:
the element of an id, the line of an element, the process and decision ids each file defines."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .checker_messages import BPMN_NS, DMN_NAMESPACES, READABLE_DMN, clean_upstream

Report = Callable[..., None]  # report(kind, element_id, line, **params)
_LXML_WHERE = re.compile(r",? line \d+, column \d+\s*$")
_ELEMENT_START = re.compile(r"<[A-Za-z_]")


@dataclass
class XmlDoc:
    """One parsed .bpmn or .dmn file and its index."""

    name: str
    text: str
    kind: str  # "bpmn" or "dmn"
    root: Any  # etree._Element
    by_id: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, Any] = field(default_factory=dict)  # bpmn:process id -> element
    decisions: dict[str, Any] = field(default_factory=dict)  # dmn:decision id -> element

    def line(self, element_id: str | None) -> int | None:
        """The line an element starts on: lxml's own, else the `id="..."` line of the text."""
        element = self.by_id.get(element_id or "")
        if element is not None and element.sourceline:
            return int(element.sourceline)
        return line_of(self.text, element_id)

    def element_at(self, line: int | None) -> Any:
        """The first element that starts on `line` (XSD errors give a line, never an element)."""
        if not line:
            return None
        return next((el for el in self.root.iter(etree.Element) if el.sourceline == line), None)


def read_xml(name: str, text: Any, kind: str, report: Report) -> XmlDoc | None:
    """Parse `text` as a `kind` file; report why not and give None when it cannot be used."""
    if not isinstance(text, str):
        report("not_text", None, None, position=1)
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        report("not_text", None, text.count("\n", 0, exc.start) + 1, position=exc.start + 1)
        return None
    if not text.strip():
        report("empty_file", None, None)
        return None
    doctype = text.find("<!DOCTYPE")
    root_start = _ELEMENT_START.search(text)
    if doctype >= 0 and (root_start is None or doctype < root_start.start()):
        # Refused before parsing: libxml2 would still read the entity declarations (and their amplification).
        report("xml_doctype", None, text.count("\n", 0, doctype) + 1)
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                             dtd_validation=False, encoding="utf-8")
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        detail = clean_upstream(_LXML_WHERE.sub("", str(exc.msg or exc)))
        report("xml_syntax", None, exc.lineno or None, detail=detail or "the XML cannot be read")
        return None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or root.getroottree().docinfo.externalDTD is not None:
        report("xml_doctype", None, line_of_text(text, "<!DOCTYPE"))
        return None
    if not _root_ok(root, kind, report):
        return None
    doc = XmlDoc(name=name, text=text, kind=kind, root=root)
    for element in root.iter(etree.Element):
        element_id = element.get("id")
        if element_id and element_id not in doc.by_id:
            doc.by_id[element_id] = element
    if kind == "bpmn":
        doc.processes = {p.get("id"): p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id")}
    else:
        doc.decisions = {d.get("id"): d for d in root.iter(f"{{{etree.QName(root).namespace}}}decision")
                         if d.get("id")}
    return doc


def _root_ok(root: Any, kind: str, report: Report) -> bool:
    qname = etree.QName(root)
    shown = f"<{root.prefix}:{qname.localname}>" if root.prefix else f"<{qname.localname}>"
    if kind == "bpmn":
        if qname.namespace == BPMN_NS and qname.localname == "definitions":
            return True
        dmn = qname.namespace in DMN_NAMESPACES or "omg.org/spec/DMN/" in (qname.namespace or "")
        report("bpmn_is_dmn" if dmn else "not_bpmn", root.get("id"), root.sourceline, root=shown)
        return False
    if qname.namespace == BPMN_NS:
        report("dmn_is_bpmn", root.get("id"), root.sourceline)
        return False
    if qname.localname != "definitions" or "omg.org/spec/DMN/" not in (qname.namespace or ""):
        report("not_dmn", root.get("id"), root.sourceline, root=shown)
        return False
    if qname.namespace not in READABLE_DMN:
        report("dmn_version", root.get("id"), root.sourceline, namespace=qname.namespace)
        return False
    if root.prefix not in (None, "dmn"):
        # Spiff's DMN parser looks elements up under the prefix 'dmn' (the default namespace is mapped to it).
        report("dmn_prefix", root.get("id"), root.sourceline, prefix=root.prefix)
        return False
    return True


def short_tag(element: Any) -> str:
    """`bpmn:userTask`, `dmn:decisionTable`: an element's tag as a modeler shows it."""
    qname = etree.QName(element)
    if qname.namespace == BPMN_NS:
        return f"bpmn:{qname.localname}"
    if qname.namespace in DMN_NAMESPACES:
        return f"dmn:{qname.localname}"
    return f"{element.prefix}:{qname.localname}" if element.prefix else qname.localname


def with_id(element: Any) -> Any:
    """The element itself or its nearest ancestor that has an id."""
    while element is not None and not element.get("id"):
        element = element.getparent()
    return element


def line_of(text: str, element_id: str | None) -> int | None:
    """The line where `id="element_id"` stands in `text`."""
    if not element_id or not text:
        return None
    return line_of_text(text, f'id="{element_id}"')


def line_of_text(text: str, needle: str) -> int | None:
    """The first line of `text` that holds `needle`."""
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else None


@dataclass(frozen=True)
class Clash:
    """An id two files define: the problem goes to `file` (the upload), naming `other`."""

    kind: str  # "duplicate_process" or "duplicate_decision"
    element_id: str
    file: str
    line: int | None
    other: str


def find_clashes(docs: list[XmlDoc], uploaded: set[str] | None) -> list[Clash]:
    """Every process id and decision id that more than one file defines, one clash per pair of files, attached to
    the uploaded file of the pair (the later one when both or neither were uploaded)."""
    clashes: list[Clash] = []
    for kind, attr in (("duplicate_process", "processes"), ("duplicate_decision", "decisions")):
        owners: dict[str, list[XmlDoc]] = {}
        for doc in docs:
            for element_id in getattr(doc, attr):
                owners.setdefault(element_id, []).append(doc)
        for element_id, owning in owners.items():
            for i, first in enumerate(owning):
                for second in owning[i + 1:]:
                    new, other = second, first
                    if uploaded is not None and first.name in uploaded and second.name not in uploaded:
                        new, other = first, second
                    clashes.append(Clash(kind, element_id, new.name, new.line(element_id), other.name))
    return clashes
