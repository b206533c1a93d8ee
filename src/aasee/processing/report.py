"""Assembling, writing and validating the analysis report.

Owns :func:`build_report` (sample facts + run metadata + the behaviour extracted from the
trace + the traffic in the packet capture -> :class:`~aasee.processing.models.Report`),
:func:`write_report` (pretty JSON, atomic), :func:`validate_report` (against
``schema/report.schema.json``) and the bounded ``report.json`` of a results directory
(:func:`bound_report`, :func:`write_bounded`): each long list the plugins declare shows its
start (:class:`ReportBounds`), the whole of it goes to ``report/<list>.jsonl`` beside it, named
in the report's ``paged`` section; :func:`full_report` reads it all back. Building never raises
on what the guest produced: problems end up in the report's ``errors``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, cast

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from .atomic import write_atomic
from .behaviour import Limits
from .models import AnalysisMeta, Report, ReportPart, Sample
from .plugins.base import Plugin, ProcessingContext
from .plugins.core import (
    OUTPUT_EXCERPT,
    BehaviourPlugin,
    CapturePlugin,
    ClockPlugin,
    FakenetPlugin,
    OutputPlugin,
)
from .text import clean_text

__all__ = [
    "OUTPUT_EXCERPT",
    "PARTS_DIR",
    "ReportBounds",
    "ReportValidationError",
    "bound_report",
    "build_report",
    "cut_report",
    "full_report",
    "list_cuts",
    "load_schema",
    "part_path",
    "read_part",
    "report_dict",
    "report_errors",
    "sample_info",
    "validate_report",
    "write_bounded",
    "write_parts",
    "write_report",
    "write_report_files",
]

logger = logging.getLogger(__name__)

_MAGIC_PEEK = 1 << 20


class ReportValidationError(ValueError):
    """A report does not match the JSON Schema; ``errors`` lists every mismatch."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("report does not match its schema: " + "; ".join(errors[:5]))
        self.errors = errors


def _magic_type(head: bytes) -> str | None:
    try:
        import magic

        return str(magic.from_buffer(head))
    except Exception as exc:  # libmagic missing or failing must not stop a report
        logger.warning("file type detection failed: %s", exc)
        return None


def sample_info(
    path: str | os.PathLike[str], name: str | None = None, file_type: str | None = None
) -> Sample:
    """Size, hashes and (through libmagic, unless given) the type of the sample file."""
    hashes = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    size = 0
    head = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            if len(head) < _MAGIC_PEEK:
                head += chunk[: _MAGIC_PEEK - len(head)]
            size += len(chunk)
            for digest in hashes:
                digest.update(chunk)
    if file_type is None:
        file_type = _magic_type(head)
    md5, sha1, sha256 = (digest.hexdigest() for digest in hashes)
    return Sample(
        name=clean_text(name if name is not None else os.fsdecode(Path(path).name)),
        size=size,
        md5=md5,
        sha1=sha1,
        sha256=sha256,
        type=file_type,
    )


def build_report(
    *,
    sample: Sample,
    analysis: AnalysisMeta,
    trace_path: str | os.PathLike[str] | None,
    root_pid: int | None,
    initial_cwd: str = "/",
    clock: tuple[float, float] | None = None,
    exits: Iterable[Mapping[str, Any]] = (),
    stdout: bytes | str = b"",
    stderr: bytes | str = b"",
    lost_events: int = 0,
    errors: Iterable[str] = (),
    limits: Limits | None = None,
    pcap_path: str | os.PathLike[str] | None = None,
    fakenet_log: str | os.PathLike[str] | None = None,
) -> Report:
    """Build the observed-behaviour part of a report from explicit inputs.

    ``clock`` is one ``(guest monotonic, guest epoch)`` pair read together by the agent; it
    places trace times on the wall clock. ``exits`` are the agent's exit events (``pid``,
    ``time`` (epoch), ``code`` or ``signal``). ``root_pid`` is the sample's pid as the agent's
    exec reply gave it; ``initial_cwd`` the directory it was started in. ``pcap_path`` is the
    host-side capture of the guest's NIC: its flows, DNS, HTTP and TLS fill the network
    section, attributed to processes through the trace's connections and UDP sends. This runs
    the behaviour plugins only; :func:`aasee.processing.pipeline.process_results` runs them
    all on a results directory.
    """
    artefacts = {
        name: Path(path)
        for name, path in (
            ("trace.log", trace_path),
            ("network.pcap", pcap_path),
            ("fakenet.jsonl", fakenet_log),
        )
        if path is not None
    }
    context = ProcessingContext(
        sample=sample,
        analysis=analysis,
        artefacts=artefacts,
        root_pid=root_pid,
        initial_cwd=initial_cwd,
        clock=clock,
        exit_events=list(exits),
        lost_events=lost_events,
        limits=limits,
        errors=[clean_text(str(e)) for e in errors],
    )
    plugins: list[Plugin] = [ClockPlugin(), BehaviourPlugin(), CapturePlugin(), FakenetPlugin()]
    plugins.append(OutputPlugin(stdout, stderr))
    # The pipeline module imports this one for writing and validating.
    from .pipeline import run_plugins

    run_plugins(context, plugins)
    return context.report()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _clean_data(value: Any) -> Any:
    """``value`` with every string valid Unicode; most reports need no change, which one pass
    of the C JSON encoder tells."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return _clean(value)
    return value


def report_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (every string valid Unicode)."""
    data: dict[str, Any] = _clean_data(report.model_dump(mode="json"))
    return data


def write_report(report: Report | Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report (a model or its :func:`report_dict`) as indented UTF-8 JSON, atomically.

    This writes the report whole, however long its lists; :func:`write_report_files` writes a
    results directory's bounded ``report.json`` and the files holding its long lists.
    """
    data = report_dict(report) if isinstance(report, Report) else report
    write_atomic(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- a bounded report.json ----------------------------------------------------------------

PARTS_DIR: Final = "report"
"""Folder beside ``report.json`` holding the whole of the lists it shows the start of."""
PART_NAME: Final = re.compile(r"[a-z_]+(?:\.[a-z_]+)*")
"""A list's path in the report (``files.written``), which names its file."""
_TREES: Final = frozenset({"process_tree"})
"""Paths of nested lists (nodes with ``children``): bounded by nodes, in tree order."""


@dataclass(frozen=True)
class ReportBounds:
    """How much of each long list ``report.json`` shows: at most ``items`` entries and about
    ``bytes`` of compact JSON (whichever comes first)."""

    items: int = 200
    bytes: int = 128 * 1024


def part_path(name: str) -> str:
    """The file of list ``name``, relative to the folder of ``report.json``."""
    if PART_NAME.fullmatch(name) is None:
        raise ValueError(f"not a report list path: {name!r}")
    return f"{PARTS_DIR}/{name}.jsonl"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json_line(value: Any) -> bytes:
    """One value as a line of JSON (compact, UTF-8, every string valid Unicode)."""
    if isinstance(value, BaseModel):
        try:
            return value.__pydantic_serializer__.to_json(value) + b"\n"
        except PydanticSerializationError:
            # A string that is not valid Unicode (an undecodable file name): made so.
            value = value.model_dump(mode="json")
    try:
        return (_compact(value) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (_compact(_clean(value)) + "\n").encode("utf-8")


def _expand(report: BaseModel, paths: Iterable[str]) -> list[str]:
    """The paths, with ``section.*`` standing for every list or map in ``section``."""
    found: dict[str, None] = {}
    for path in paths:
        if path.endswith(".*"):
            section = _get(report, path[:-2].split("."))
            if isinstance(section, BaseModel):
                for key in type(section).model_fields:
                    if isinstance(getattr(section, key), (list, dict)):
                        found[f"{path[:-2]}.{key}"] = None
        else:
            found[path] = None
    return [path for path in found if PART_NAME.fullmatch(path)]


def _get(model: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(model, BaseModel) or key not in type(model).model_fields:
            return None
        model = getattr(model, key)
    return model


def _with(model: BaseModel, keys: list[str], value: Any) -> BaseModel:
    """A shallow copy of ``model`` with ``value`` at ``keys`` (copies made on the way down)."""
    key = keys[0]
    if len(keys) > 1:
        value = _with(getattr(model, key), keys[1:], value)
    return model.model_copy(update={key: value})


def _prefix(lines: list[bytes], bounds: ReportBounds) -> int:
    """How many of the first entries fit the bounds."""
    budget = bounds.bytes
    for count, line in enumerate(lines[: bounds.items]):
        budget -= len(line)
        if budget < 0:
            return count
    return min(len(lines), bounds.items)


def _count_nodes(nodes: list[Any]) -> int:
    total = 0
    stack = list(nodes)
    while stack:
        node = stack.pop()
        total += 1
        stack.extend(node.children)
    return total


def _prune(nodes: list[Any], budget: list[int]) -> tuple[list[Any], bool]:
    """Tree nodes (with ``children``) in tree order while ``budget`` ([nodes, bytes]) lasts;
    a node whose children were not all kept is marked ``truncated``. Returns them and
    whether any was left out."""
    kept: list[Any] = []
    for node in nodes:
        own = node.model_copy(update={"children": []})
        budget[0] -= 1
        budget[1] -= len(_json_line(own))
        if budget[0] < 0 or budget[1] < 0:
            return kept, True
        children, cut = _prune(node.children, budget)
        own.children = children
        if cut:
            own.truncated = True
        kept.append(own)
        if cut:
            return kept, True
    return kept, False


def _bound_one(value: Any, path: str, bounds: ReportBounds) -> tuple[Any, int, int, bytes] | None:
    """(what report.json shows, total, shown, the file's text), or None if it fits whole."""
    if path in _TREES and isinstance(value, list):
        shown_tree, cut = _prune(value, [bounds.items, bounds.bytes])
        if not cut:
            return None
        text = b"".join(_json_line(node) for node in value)
        return shown_tree, _count_nodes(value), _count_nodes(shown_tree), text
    if isinstance(value, list):
        lines = [_json_line(item) for item in value]
        shown = _prefix(lines, bounds)
        if shown == len(value):
            return None
        return value[:shown], len(value), shown, b"".join(lines)
    if isinstance(value, dict):
        lines = [_json_line({"key": key, "value": item}) for key, item in value.items()]
        shown = _prefix(lines, bounds)
        if shown == len(lines):
            return None
        return dict(list(value.items())[:shown]), len(lines), shown, b"".join(lines)
    return None


def bound_report(
    report: Report, paths: Iterable[str], bounds: ReportBounds | None = None
) -> tuple[Report, dict[str, bytes]]:
    """The report with its lists at ``paths`` (``files.written``, ``files.*``) cut to
    ``bounds`` and a :attr:`Report.paged` entry for each list cut; and the text of the file
    holding the whole of each (JSON Lines, by list path). ``report`` is left as it was."""
    cuts, parts = list_cuts(report, paths, bounds)
    return cut_report(report, cuts, bounds), parts


Cut = tuple[int, int, int, int]
"""How one long list is cut: (entries in all, entries shown (tree nodes for a tree), entries
of its top level shown, bytes of its file)."""


def list_cuts(
    report: Report, paths: Iterable[str], bounds: ReportBounds | None = None
) -> tuple[dict[str, Cut], dict[str, bytes]]:
    """How each list at ``paths`` too long for ``bounds`` is cut, and the text of its file
    (see :func:`bound_report`, which applies them with :func:`cut_report`)."""
    bounds = bounds or ReportBounds()
    cuts: dict[str, Cut] = {}
    parts: dict[str, bytes] = {}
    for path in _expand(report, paths):
        result = _bound_one(_get(report, path.split(".")), path, bounds)
        if result is None:
            continue
        shown, total, count, text = result
        cuts[path] = (total, count, len(shown), len(text))
        parts[path] = text
    return cuts, parts


def cut_report(
    report: Report, cuts: Mapping[str, Cut], bounds: ReportBounds | None = None
) -> Report:
    """``report`` with the lists ``cuts`` names cut as it says, each with its
    :attr:`Report.paged` entry (``report`` is left as it was)."""
    bounds = bounds or ReportBounds()
    bounded = report.model_copy(update={"paged": dict(report.paged)})
    for path, (total, count, top, size) in cuts.items():
        keys = path.split(".")
        value = _get(report, keys)
        shown: Any
        if path in _TREES and isinstance(value, list):
            shown, _ = _prune(value, [bounds.items, bounds.bytes])
        elif isinstance(value, dict):
            shown = dict(list(value.items())[:top])
        else:
            shown = value[:top]
        bounded = cast(Report, _with(bounded, keys, shown))
        bounded.paged[path] = ReportPart(path=part_path(path), total=total, shown=count, bytes=size)
    return bounded


def write_report_files(
    report: Report,
    out_dir: str | os.PathLike[str],
    paths: Iterable[str],
    bounds: ReportBounds | None = None,
) -> dict[str, Any]:
    """Write ``report.json`` (bounded, validated) and the files of its long lists into
    ``out_dir``; files of lists no longer cut are removed. Returns what report.json holds."""
    bounded, parts = bound_report(report, paths, bounds)
    return write_bounded(bounded, parts, out_dir)


def write_bounded(
    bounded: Report, parts: Mapping[str, bytes | None], out_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Validate and write what :func:`bound_report` made: the files first, then report.json
    (a reader never finds a report naming a file not there yet). A part given as None was
    written already (:func:`write_parts`); files of lists not in ``parts`` are removed."""
    folder = Path(out_dir)
    data = report_dict(bounded)
    validate_report(data)
    write_parts({name: text for name, text in parts.items() if text is not None}, folder)
    parts_dir = folder / PARTS_DIR
    if parts_dir.is_dir() and not parts_dir.is_symlink():
        for stale in parts_dir.glob("*.jsonl"):
            if stale.name[: -len(".jsonl")] not in parts:
                stale.unlink()
    write_atomic(folder / "report.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def write_parts(parts: Mapping[str, bytes], out_dir: str | os.PathLike[str]) -> None:
    """Write the files of the long lists (``report/<list>.jsonl``)."""
    if not parts:
        return
    parts_dir = Path(out_dir) / PARTS_DIR
    parts_dir.mkdir(exist_ok=True)
    for name, text in parts.items():
        write_atomic(parts_dir / f"{name}.jsonl", text)


def read_part(out_dir: str | os.PathLike[str], name: str) -> list[Any]:
    """Every entry of list ``name`` from its file beside ``out_dir/report.json``."""
    path = Path(out_dir) / part_path(name)
    with path.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def full_report(out_dir: str | os.PathLike[str], keep_paged: bool = False) -> dict[str, Any]:
    """``out_dir/report.json`` with each list it shows the start of read whole from its file:
    the report as it was before it was bounded (``paged`` is dropped unless ``keep_paged``:
    the HTML report links the files it names)."""
    folder = Path(out_dir)
    data: dict[str, Any] = json.loads((folder / "report.json").read_text("utf-8"))
    paged = data.get("paged") if keep_paged else data.pop("paged", None)
    if not isinstance(paged, dict):
        return data
    for name in paged:
        keys = name.split(".")
        parent: Any = data
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        entries = read_part(folder, name)
        if isinstance(parent.get(keys[-1]), dict):
            parent[keys[-1]] = {entry["key"]: entry["value"] for entry in entries}
        else:
            parent[keys[-1]] = entries
    return data


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The report JSON Schema shipped with the package."""
    folder = resources.files(__package__).joinpath("schema")
    schema: dict[str, Any] = json.loads(folder.joinpath("report.schema.json").read_text("utf-8"))
    # Each report section owned by its own package documents its models in a part of its own
    # under schema/defs/; the parts only add definitions.
    for part in sorted(folder.joinpath("defs").iterdir(), key=lambda p: p.name):
        if part.name.endswith(".json"):
            for name, definition in json.loads(part.read_text("utf-8"))["$defs"].items():
                if name in schema["$defs"]:
                    raise ValueError(f"schema part {part.name} redefines {name}")
                schema["$defs"][name] = definition
    return schema


def report_errors(data: Mapping[str, Any]) -> list[str]:
    """Every way ``data`` departs from the schema, as ``path: message`` strings."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        found.append(f"{where}: {error.message}")
    return found


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aasee"


@lru_cache(maxsize=1)
def _compiled_validator() -> Callable[[Any], Any]:
    """The report schema compiled to Python by fastjsonschema.

    Generating and compiling that code takes a good part of a second; its code object is kept
    in the user's cache (``$XDG_CACHE_HOME/aasee``, private to the user, named by a digest of
    the schema, fastjsonschema's and Python's versions), so that each later process loads it
    in about a millisecond. Without a usable cache it is compiled every time.
    """
    import marshal
    import sys

    import fastjsonschema

    # fastjsonschema knows drafts up to 7; the schema uses no keyword newer than that, and
    # the jsonschema (2020-12) check below is the authority whenever this one objects.
    schema = dict(load_schema(), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    identity = json.dumps([schema, fastjsonschema.VERSION, sys.version], sort_keys=True)
    cached = _cache_dir() / f"report-validator-{hashlib.sha256(identity.encode()).hexdigest()}"
    namespace: dict[str, Any] = {}
    try:
        code = marshal.loads(cached.read_bytes())
        exec(code, namespace)  # our own compiled schema, kept private
    except (OSError, ValueError, EOFError, TypeError):
        source = fastjsonschema.compile_to_code(schema)
        code = compile(source, "<report schema validator>", "exec")
        namespace = {}
        exec(code, namespace)  # generated from our own schema
        try:
            cached.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(cached, marshal.dumps(code))
        except OSError as exc:
            logger.info("report validator not cached: %s", exc)
    name = next(
        key for key, value in namespace.items() if key.startswith("validate") and callable(value)
    )
    validator: Callable[[Any], Any] = namespace[name]
    return validator


def validate_report(data: Mapping[str, Any]) -> None:
    """Raise :class:`ReportValidationError` unless ``data`` matches the report schema.

    A compiled validator takes the common case (a valid report) about ten times faster than
    walking the schema; any objection is then listed in full by the reference validator.
    """
    import fastjsonschema

    try:
        _compiled_validator()(data)
        return
    except fastjsonschema.JsonSchemaException:
        pass
    found = report_errors(data)
    if found:
        raise ReportValidationError(found)
    raise ReportValidationError(["the compiled validator refused what the reference accepts"])
