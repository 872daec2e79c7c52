"""Which files a procedure is made of: its diagram, the diagrams of the processes it calls, the decision tables
and the forms they name. Read from the files' XML, so it works for any stored deployment without parsing specs."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
# What one file defines: its decision ids, and each process with the processes it calls and what it names.
Entries = tuple[tuple[str, ...], tuple[tuple[str, frozenset[str], frozenset[str]], ...]]
_CACHE: dict[tuple[str, str], Entries] = {}
_LOCK = threading.Lock()


@dataclass
class FileIndex:
    """What each file of a deployment defines and names."""

    processes: dict[str, str] = field(default_factory=dict)  # process id -> file
    decisions: dict[str, str] = field(default_factory=dict)  # decision id -> file
    calls: dict[str, set[str]] = field(default_factory=dict)  # process id -> the process ids it calls
    uses: dict[str, set[str]] = field(default_factory=dict)  # process id -> decision ids and form file names


def index(files: dict[str, str]) -> FileIndex:
    """Index every .bpmn and .dmn file; a file that does not parse defines nothing."""
    found = FileIndex()
    for name, text in sorted(files.items()):
        decisions, processes = _entries(name, text)
        for decision in decisions:
            found.decisions.setdefault(decision, name)
        for pid, calls, uses in processes:
            found.processes.setdefault(pid, name)
            found.calls[pid], found.uses[pid] = set(calls), set(uses)
    return found


def _entries(name: str, text: str) -> Entries:
    """What one file defines, parsed once per content (the version history reads the same files again and again);
    the cache keeps the small result under the text's hash, not the text."""
    key = (name, hashlib.sha256(text.encode()).hexdigest())
    with _LOCK:
        found = _CACHE.get(key)
    if found is None:
        found = _parse_entries(name, text)
        with _LOCK:
            _CACHE[key] = found
            while len(_CACHE) > 1024:
                _CACHE.pop(next(iter(_CACHE)))
    return found


def _parse_entries(name: str, text: str) -> Entries:
    """Read what a file defines from its XML."""
    root = _root(text) if name.endswith((".bpmn", ".dmn")) else None
    if root is None:
        return (), ()
    if name.endswith(".dmn"):
        return tuple(d.get("id") or "" for d in root.iter("{*}decision")), ()
    return (), tuple((p.get("id") or "",
                      frozenset(c.get("calledElement") or "" for c in p.iter(f"{{{BPMN}}}callActivity")),
                      frozenset(_uses(p))) for p in root.iter(f"{{{BPMN}}}process"))


def files_of(files: dict[str, str], process_id: str) -> dict[str, str]:
    """The files `process_id` is made of, out of a deployment's `files` (name -> text)."""
    idx = index(files)
    if process_id not in idx.processes:
        return {}
    wanted: set[str] = set()
    seen, todo = set(), [process_id]
    while todo:  # the process, the processes it calls (and they call), each with the tables and forms it names
        pid = todo.pop()
        if pid in seen or pid not in idx.processes:
            continue
        seen.add(pid)
        wanted.add(idx.processes[pid])
        todo.extend(idx.calls.get(pid, ()))
        wanted.update(idx.decisions.get(used, used) for used in idx.uses.get(pid, ()))
    return {name: files[name] for name in sorted(wanted) if name in files}


def content_hash(files: dict[str, str]) -> str:
    """One hash for a set of files: equal files give equal hashes, whatever their order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{hashlib.sha256(files[name].encode()).hexdigest()}\n".encode())
    return digest.hexdigest()


def _uses(root: etree._Element) -> set[str]:
    """Decision ids and form files a diagram names."""
    used = {el.text.strip() for el in root.iter(f"{{{SPIFF}}}calledDecisionId") if el.text}
    for prop in root.iter(f"{{{SPIFF}}}property"):
        if prop.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename") and prop.get("value"):
            used.add(prop.get("value") or "")
    return used


def _root(text: str) -> etree._Element | None:
    try:
        return etree.fromstring(text.encode(), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
