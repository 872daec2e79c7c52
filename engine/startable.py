"""Who may start a procedure by hand, and from where: a declaration on the diagram's <bpmn:process>.

    <bpmn:process id="major_event_standby" ...>
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="start_from" value="intake ticket"/>
          <spiffworkflow:property name="start_roles" value="service_desk manager"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>

`start_from` names the places staff may start it: `intake` (the intake page's procedure choice) and `ticket` (a
button on a ticket page, for the same customer, linked to that ticket). `start_roles` limits who may; empty or
absent means every staff role. A process without `start_from` is started only by the engine (or, for the
maintenance request, by intake as always). Pure functions: the caller reads the deployed file and caches.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
PLACES = ("intake", "ticket")
_NS = {"bpmn": BPMN, "spiff": SPIFF}
_WORDS = re.compile(r"[\s,;]+")
# No DTDs, entities or network: a diagram is uploaded by a process owner, but still never trusted to fetch things.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class StartOptions:
    """Where staff may start a procedure (`start_from`: words of PLACES) and which roles may (empty: every role)."""

    start_from: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)

    def allows(self, where: str, role: str) -> bool:
        """Whether `role` may start the procedure from `where`; an admin always may where it is declared."""
        return where in self.start_from and (role == "admin" or not self.roles or role in self.roles)


NOT_STARTABLE = StartOptions()


def start_options(xml_text: str, process_id: str) -> StartOptions:
    """The declaration on process `process_id` in a BPMN file; NOT_STARTABLE when it has none or the file does
    not parse (deploy has already refused a broken file; a missing declaration means "engine only")."""
    try:
        root = etree.fromstring(xml_text.encode(), _PARSER)
    except etree.XMLSyntaxError:
        return NOT_STARTABLE
    properties = root.xpath("//bpmn:process[@id=$pid]/bpmn:extensionElements/spiff:properties/spiff:property",
                            namespaces=_NS, pid=process_id)
    values = {str(p.get("name", "")): str(p.get("value", "")) for p in properties}
    # Unknown words are kept: they match no place or role, so a typo narrows who may start, never widens it.
    start_from, roles = _words(values.get("start_from", "")), _words(values.get("start_roles", ""))
    return StartOptions(frozenset(start_from), frozenset(roles))


def _words(value: str) -> list[str]:
    return [w for w in _WORDS.split(value.strip()) if w]
