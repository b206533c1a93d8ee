"""The report's data model (pydantic), version ``1.1``.

Owns the shape of everything a report holds; ``schema/report.schema.json`` documents the same
shape for consumers and must be kept in step with it (a unit test checks both agree).

Times: ``time``/``start``/``exit`` fields are seconds of the guest's CLOCK_MONOTONIC as the
trace recorded them; each has a ``*_utc`` twin, an ISO-8601 UTC string derived from the
clock pairing the agent reported, or ``null`` when no pairing was available. ``pid`` fields
are guest pids; ``process`` fields are process keys (``"<pid>@<start>"``) that stay unique
when the guest reuses a pid. ``*_epoch`` fields come from the host-side packet capture: host
Unix times, never compared with guest times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from aasee.arch import DEFAULT_ARCH

from .modelbase import StrictModel
from .signatures.models import AttackSummary, ScoreDetails, SignatureMatch, Verdict
from .static.models import StaticAnalysis
from .windows.model import WindowsEvidence

__all__ = [
    "SCHEMA_VERSION",
    "AgentExit",
    "Analysis",
    "AnalysisMeta",
    "ArtefactFile",
    "Bind",
    "Capture",
    "ClockSync",
    "Connection",
    "DirectoryOpen",
    "DiskChange",
    "DiskObjectBefore",
    "DnsAnswer",
    "DnsQuery",
    "DnsRecord",
    "DroppedFile",
    "ExecRecord",
    "FileAccess",
    "FileChmod",
    "FileCreate",
    "FileDelete",
    "FileLink",
    "FileMkdir",
    "FileRename",
    "FileSystemDiff",
    "Files",
    "Flow",
    "HttpRequest",
    "MemoryDump",
    "MemoryIndicator",
    "MemoryStrings",
    "Network",
    "Output",
    "Process",
    "ProcessTreeNode",
    "PtraceCall",
    "Report",
    "ReportPart",
    "RunEvidence",
    "Sample",
    "Screenshot",
    "Screenshots",
    "Syscalls",
    "TlsClientHello",
    "TraceInfo",
    "UdpSend",
    "UnixSocket",
]

SCHEMA_VERSION: Final = "1.2"


_Model = StrictModel


class Sample(_Model):
    """The file that was analysed."""

    name: str
    size: int = Field(ge=0)
    md5: str
    sha1: str
    sha256: str
    type: str | None = None


class ClockSync(_Model):
    """One instant read on both guest clocks: maps trace times to wall-clock time."""

    monotonic: float
    epoch: float


class AgentExit(_Model):
    """An exit the in-guest agent observed with waitpid() for a process it started."""

    pid: int | None = None
    time: float | None = None
    time_utc: str | None = None
    code: int | None = None
    signal: int | None = None


class TraceFlood(_Model):
    """A task whose events the guest's flood guard filtered out after its budget."""

    pid: int
    process: str | None = None
    events: int
    window_ms: int
    time: str | None = None


class TraceInfo(_Model):
    """How complete the kernel trace is: what was parsed, skipped and lost."""

    events: int = 0
    lines: int = 0
    skipped: int = 0
    lost: int = 0
    too_long: int = 0
    malformed: int = 0
    garbage: int = 0
    joined: int = 0
    interrupted: int = 0
    pre_exec_dropped: int = 0
    by_event: dict[str, int] = Field(default_factory=dict)
    truncated: dict[str, int] = Field(default_factory=dict)
    floods: list[TraceFlood] = Field(default_factory=list)


def iso_datetime(value: datetime | None) -> str | None:
    """``value`` as an ISO-8601 UTC string ending in ``Z`` (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(value: object) -> object:
    if isinstance(value, datetime):
        return iso_datetime(value)
    return value


class AnalysisMeta(_Model):
    """What the caller knows about the run itself (the part of ``analysis`` it supplies).

    ``arch`` is the guest's architecture profile (its syscall numbers, errno values, signals
    and byte order decode the trace); ``sample_arch`` how the sample's own architecture was
    named when it was routed to that guest. ``executed`` is false when the guest could not
    run the sample at all, ``not_executed_reason`` then says why: such a run shows nothing of
    the sample's behaviour and gets the verdict ``not executed``, never ``benign``.
    """

    id: str
    started: str | None = None
    ended: str | None = None
    timeout: float | None = None
    hypervisor: str | None = None
    sandbox: str | None = None
    isolation: str | None = None
    end_reason: str | None = None
    """Why the run ended: the timeout, an early end (the sample's processes all exited and
    the network was quiet), the sample's exit (stop_on_exit), or the guest stopping."""
    """What separated the sample from the host (a container's weaker isolation says so)."""
    accel: str | None = None
    guest_image: str | None = None
    boot: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    arch: str = DEFAULT_ARCH
    sample_arch: str | None = None
    executed: bool = True
    not_executed_reason: str | None = None
    tracer_protection: str | None = None
    """``lockdown`` when the guest kernel was locked down under the sample (nobody in the
    guest could open the tracer's controls), else why not; None when not asked."""

    @field_validator("started", "ended", mode="before")
    @classmethod
    def _datetime_to_iso(cls, value: object) -> object:
        return _iso(value)


class Analysis(AnalysisMeta):
    """The run: caller metadata plus clock pairing, agent exits and trace completeness."""

    clock: ClockSync | None = None
    exits: list[AgentExit] = Field(default_factory=list)
    trace: TraceInfo = Field(default_factory=TraceInfo)


class ExecRecord(_Model):
    """One successful execve() of a process."""

    time: float
    time_utc: str | None = None
    filename: str
    argv: list[str] = Field(default_factory=list)
    argc: int | None = None
    argv_truncated: bool = False


class Process(_Model):
    """One process (thread group); threads are folded in and listed by id."""

    key: str
    pid: int
    ppid: int | None = None
    parent: str | None = None
    comm: str = ""
    image: str | None = None
    argv: list[str] = Field(default_factory=list)
    argv_truncated: bool = False
    cwd: str | None = None
    start: float | None = None
    start_utc: str | None = None
    exit: float | None = None
    exit_utc: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    exit_signal_name: str | None = None
    abi: str | None = None
    threads: list[int] = Field(default_factory=list)
    execs: list[ExecRecord] = Field(default_factory=list)
    children: list[str] = Field(default_factory=list)


class ProcessTreeNode(_Model):
    """A process in the nested tree; details are in the flat ``processes`` list by key."""

    key: str
    pid: int
    comm: str = ""
    image: str | None = None
    argv: list[str] = Field(default_factory=list)
    children: list[ProcessTreeNode] = Field(default_factory=list)
    truncated: bool = False


class _Attempt(_Model):
    pid: int
    process: str
    time: float
    time_utc: str | None = None
    count: int = 1
    ok: bool | None = None
    error: str | None = None


class FileAccess(_Attempt):
    """A file opened for reading, or for writing (write, read-write, create, truncate, append)."""

    path: str
    flags: str


class DirectoryOpen(_Attempt):
    """A directory opened (O_DIRECTORY), typically to list it."""

    path: str


class FileCreate(_Attempt):
    """A file opened with O_CREAT that succeeded (it may have existed unless O_EXCL)."""

    path: str
    mode: str | None = None
    exclusive: bool = False


class FileDelete(_Attempt):
    """A file unlinked or a directory removed."""

    path: str
    op: Literal["unlink", "rmdir"]


class FileRename(_Attempt):
    """A rename (or move) from ``src`` to ``dst``."""

    src: str
    dst: str


class FileChmod(_Attempt):
    """A permission change; ``path`` is null for fchmod on an unknown descriptor."""

    path: str | None
    fd: int | None = None
    mode: str
    op: Literal["chmod", "fchmodat", "fchmod"]


class FileMkdir(_Attempt):
    """A directory created."""

    path: str
    mode: str | None = None


class FileLink(_Attempt):
    """A symbolic or hard link created at ``path`` pointing to ``target``."""

    kind: Literal["symlink", "link"]
    target: str
    path: str


class Files(_Model):
    read: list[FileAccess] = Field(default_factory=list)
    written: list[FileAccess] = Field(default_factory=list)
    created: list[FileCreate] = Field(default_factory=list)
    deleted: list[FileDelete] = Field(default_factory=list)
    renamed: list[FileRename] = Field(default_factory=list)
    chmod: list[FileChmod] = Field(default_factory=list)
    mkdir: list[FileMkdir] = Field(default_factory=list)
    links: list[FileLink] = Field(default_factory=list)
    directories: list[DirectoryOpen] = Field(default_factory=list)


class _Endpoint(_Model):
    pid: int
    process: str
    time: float
    time_utc: str | None = None
    count: int = 1
    result: str | None = None


class Connection(_Endpoint):
    """An outgoing connect() to an IP endpoint; ``result`` is "ok" or an errno name."""

    proto: str
    family: Literal["ipv4", "ipv6"]
    dst_ip: str
    dst_port: int


class Bind(_Endpoint):
    """A socket bound to a local IP address and port."""

    proto: str
    family: Literal["ipv4", "ipv6"]
    ip: str
    port: int


class UdpSend(_Endpoint):
    """UDP datagrams sent to one destination; ``bytes`` is the sum of payload sizes."""

    family: Literal["ipv4", "ipv6"]
    dst_ip: str
    dst_port: int
    bytes: int = 0


class DnsQuery(_Endpoint):
    """A datagram to port 53: a DNS query attempt (the payload is not decoded yet)."""

    server: str
    port: int
    query: str | None = None


class UnixSocket(_Endpoint):
    """A connect() to a Unix-domain socket; the path is what the probe captured."""

    op: Literal["connect"]
    path: str
    path_truncated: bool


class Flow(_Model):
    """Packets of one connection or exchange in the capture, oriented from its initiator.

    ``src`` is the side that opened it (TCP SYN, else the sender of the first packet). Times
    are host Unix time of capture, not guest monotonic. ``pid``/``process`` come from the
    tracer's record of the same destination, when one matches.
    """

    proto: Literal["tcp", "udp", "icmp", "other"]
    ip_proto: int = Field(ge=0, le=255)
    family: Literal["ipv4", "ipv6"]
    direction: Literal["outbound", "inbound", "other"]
    src_ip: str
    src_port: int | None = Field(default=None, ge=0, le=65535)
    dst_ip: str
    dst_port: int | None = Field(default=None, ge=0, le=65535)
    first_epoch: float
    first_utc: str | None = None
    last_epoch: float
    last_utc: str | None = None
    src_packets: int = Field(default=0, ge=0)
    src_bytes: int = Field(default=0, ge=0)
    src_payload: int = Field(default=0, ge=0)
    dst_packets: int = Field(default=0, ge=0)
    dst_bytes: int = Field(default=0, ge=0)
    dst_payload: int = Field(default=0, ge=0)
    tcp_flags: list[str] = Field(default_factory=list)
    pid: int | None = None
    process: str | None = None


class _Captured(_Model):
    time_epoch: float
    time_utc: str | None = None
    src_ip: str
    src_port: int = Field(ge=0, le=65535)
    dst_ip: str
    dst_port: int = Field(ge=0, le=65535)


class DnsAnswer(_Model):
    """One resource record of the answer section of a captured DNS response."""

    name: str
    type: str
    ttl: int = Field(ge=0)
    data: str


class DnsRecord(_Captured):
    """A DNS query seen in the capture, joined with its response when one was captured."""

    proto: Literal["udp", "tcp"]
    id: int = Field(ge=0, le=65535)
    name: str
    type: str
    count: int = Field(default=1, ge=1)
    rcode: str | None = None
    answers: list[DnsAnswer] = Field(default_factory=list)
    pid: int | None = None
    process: str | None = None


class HttpRequest(_Captured):
    """An HTTP/1.x request found in a client stream of the capture."""

    method: str
    version: str
    host: str | None = None
    path: str
    url: str
    user_agent: str | None = None
    content_type: str | None = None
    body_size: int = Field(default=0, ge=0)
    body_sha256: str | None = None
    body_truncated: bool = False
    status: int | None = None
    pid: int | None = None
    process: str | None = None


class TlsClientHello(_Captured):
    """The ClientHello a client stream of the capture started with."""

    sni: str | None = None
    version: str
    client_version: str
    supported_versions: list[str] = Field(default_factory=list)
    alpn: list[str] = Field(default_factory=list)
    ja3: str
    ja3_md5: str
    pid: int | None = None
    process: str | None = None


class Capture(_Model):
    """Completeness of the host-side packet capture: the source of flows, dns_traffic, http, tls."""

    analysed: bool = False
    packets: int = Field(default=0, ge=0)
    bytes: int = Field(default=0, ge=0)
    truncated: bool = False
    non_ip: int = Field(default=0, ge=0)
    malformed: int = Field(default=0, ge=0)
    dns_malformed: int = Field(default=0, ge=0)
    dropped: dict[str, int] = Field(default_factory=dict)


class Network(_Model):
    connections: list[Connection] = Field(default_factory=list)
    binds: list[Bind] = Field(default_factory=list)
    udp: list[UdpSend] = Field(default_factory=list)
    dns: list[DnsQuery] = Field(default_factory=list)
    unix: list[UnixSocket] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)
    dns_traffic: list[DnsRecord] = Field(default_factory=list)
    http: list[HttpRequest] = Field(default_factory=list)
    tls: list[TlsClientHello] = Field(default_factory=list)
    capture: Capture = Field(default_factory=Capture)


class PtraceCall(_Model):
    """A ptrace() request, the classic anti-debugging probe when it is PTRACE_TRACEME."""

    pid: int
    process: str
    time: float
    time_utc: str | None = None
    request: int
    request_name: str | None = None
    target: int | None = None
    ok: bool | None = None
    error: str | None = None


class Syscalls(_Model):
    """System call counts from the raw syscall trace (entries, by name)."""

    total: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    per_process: dict[str, dict[str, int]] = Field(default_factory=dict)
    ptrace: list[PtraceCall] = Field(default_factory=list)


class Output(_Model):
    """Bounded excerpts of what the sample wrote to its stdout and stderr."""

    stdout: str = ""
    stderr: str = ""
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class DroppedFile(_Model):
    """A file the sample's processes wrote, collected from the guest at the end of the run.

    ``stored_as`` names the copy under ``dropped/`` in the results directory (``null`` when
    it could not be collected: gone, not a regular file, unreadable). ``truncated`` means the
    copy holds only the first bytes (the size cap); the hashes are of what was collected.
    """

    path: str
    size: int = Field(ge=0)
    collected: int = Field(default=0, ge=0)
    truncated: bool = False
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    stored_as: str | None = None
    pid: int | None = None
    process: str | None = None
    error: str | None = None
    static: StaticAnalysis | None = None


DiskChangeKind = Literal["created", "modified", "deleted", "renamed", "metadata"]
DiskObjectType = Literal["file", "dir", "symlink", "fifo", "socket", "char", "block", "unknown"]


class DiskObjectBefore(_Model):
    """What a changed path held on the base disk before the run."""

    path: str | None = None
    type: DiskObjectType
    size: int = Field(ge=0)
    mode: str
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)
    mtime: str | None = None
    ctime: str | None = None
    attributes: str = ""
    target: str | None = None
    sha256: str | None = None


class DiskChange(_Model):
    """One change of the guest's disk, found by the host comparing the run's disk overlay with
    its base after the VM was gone (never trusting the guest).

    ``traced`` says whether the kernel trace saw a write, creation, deletion, rename, link or
    permission change of this path (``traced_ops`` which): a change nobody traced was made
    outside the traced processes, or after tracing was blinded.
    """

    path: str | None
    change: DiskChangeKind
    type: DiskObjectType
    inode: int = Field(ge=0)
    size: int = Field(ge=0)
    mode: str
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)
    mtime: str | None = None
    ctime: str | None = None
    links: int = Field(default=0, ge=0)
    attributes: str = ""
    target: str | None = None
    device: str | None = None
    sha256: str | None = None
    stored_as: str | None = None
    changed: list[str] = Field(default_factory=list)
    before: DiskObjectBefore | None = None
    notes: list[str] = Field(default_factory=list)
    sample: bool = False
    traced: bool = False
    traced_ops: list[str] = Field(default_factory=list)


class FileSystemDiff(_Model):
    """The host-side diff of the guest's disk: what the run changed on it, traced or not."""

    method: str | None = None
    seconds: float | None = None
    complete: bool = False
    truncated: bool = False
    overlay_bytes: int | None = Field(default=None, ge=0)
    journal: dict[str, str] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    untraced: int = Field(default=0, ge=0)
    ignored: int = Field(default=0, ge=0)
    errors: list[str] = Field(default_factory=list)
    changes: list[DiskChange] = Field(default_factory=list)


class ArtefactFile(_Model):
    """A file the run left in its results directory."""

    path: str
    kind: str
    size: int = Field(ge=0)
    sha256: str | None = None


class MemoryDump(_Model):
    """One dump of the guest's physical memory (an ELF core file, gzipped)."""

    path: str
    event: str
    time_epoch: float | None = None
    time_utc: str | None = None
    format: str
    elf_type: str | None = None
    compression: str | None = None
    raw_bytes: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str | None = None
    dump_seconds: float | None = None
    compress_seconds: float | None = None


class Screenshot(_Model):
    """One frame kept: it differed from the frame before."""

    path: str
    time_epoch: float | None = None
    time_utc: str | None = None
    offset: float | None = None
    reason: str
    width: int = Field(ge=0)
    height: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str | None = None


class Screenshots(_Model):
    """The screenshots of a guest with a display."""

    display: bool
    interval: float | None = None
    taken: int = Field(default=0, ge=0)
    unchanged: int = Field(default=0, ge=0)
    truncated: bool = False
    frames: list[Screenshot] = Field(default_factory=list)


class MemoryIndicator(_Model):
    """A URL, domain name or IPv4 address found in memory and nowhere in the trace or capture."""

    value: str
    count: int = Field(ge=1)
    dumps: list[str] = Field(default_factory=list)


class MemoryStrings(_Model):
    """URLs, domains and IPv4 addresses in the memory dumps that the trace did not show."""

    dumps: list[str] = Field(default_factory=list)
    bytes_scanned: int = Field(default=0, ge=0)
    seconds: float | None = None
    baseline: str | None = None
    found: dict[str, int] = Field(default_factory=dict)
    in_trace: dict[str, int] = Field(default_factory=dict)
    in_baseline: dict[str, int] = Field(default_factory=dict)
    truncated: bool = False
    urls: list[MemoryIndicator] = Field(default_factory=list)
    domains: list[MemoryIndicator] = Field(default_factory=list)
    ips: list[MemoryIndicator] = Field(default_factory=list)


class RunEvidence(_Model):
    """Where the run's artefacts are, the memory dumps and screenshots, and what memory held."""

    artefacts: list[ArtefactFile] = Field(default_factory=list)
    memory_dumps: list[MemoryDump] = Field(default_factory=list)
    screenshots: Screenshots | None = None
    memory_strings: MemoryStrings | None = None
    errors: list[str] = Field(default_factory=list)


class ReportPart(_Model):
    """A long list (or map) of the report kept whole in a file beside ``report.json``: the
    report shows its first ``shown`` entries, the file holds all ``total`` of them, one JSON
    value per line, in the same order (a map's entries as ``{"key": ..., "value": ...}``; the
    process tree's roots, each with all its descendants). A pointer into the list (``/files/
    written/N``) with ``N`` past ``shown`` is line ``N`` of the file (counted from 0)."""

    path: str
    total: int = Field(ge=0)
    shown: int = Field(ge=0)
    bytes: int = Field(ge=0)


class Report(_Model):
    """A complete analysis report."""

    schema_version: Literal["1.2"] = SCHEMA_VERSION
    sample: Sample
    analysis: Analysis
    processes: list[Process] = Field(default_factory=list)
    process_tree: list[ProcessTreeNode] = Field(default_factory=list)
    files: Files = Field(default_factory=Files)
    network: Network = Field(default_factory=Network)
    syscalls: Syscalls = Field(default_factory=Syscalls)
    output: Output = Field(default_factory=Output)
    static: StaticAnalysis | None = None
    dropped: list[DroppedFile] = Field(default_factory=list)
    filesystem: FileSystemDiff | None = None
    evidence: RunEvidence | None = None
    signatures: list[SignatureMatch] = Field(default_factory=list)
    attack: AttackSummary = Field(default_factory=AttackSummary)
    score: float | None = Field(default=None, ge=0, le=10)
    verdict: Verdict | None = None
    score_details: ScoreDetails | None = None
    windows: WindowsEvidence | None = None
    """A Windows (PE) sample run by Wine: Windows paths, image names, registry, limits."""
    errors: list[str] = Field(default_factory=list)
    paged: dict[str, ReportPart] = Field(default_factory=dict)
    """Lists cut short in report.json, by their path (``files.written``): absent when none."""

    @model_serializer(mode="wrap")
    def _without_absent_sections(self, handler: SerializerFunctionWrapHandler) -> Any:
        # ``filesystem`` came after 1.2 was published: a report without a disk diff is
        # written exactly as before, so that it stays what 1.2 consumers know.
        # ``evidence`` likewise: absent when no evidence section was built.
        data = handler(self)
        if isinstance(data, dict):
            for optional in ("filesystem", "evidence", "windows"):
                if data.get(optional) is None:
                    data.pop(optional, None)
        if isinstance(data, dict) and not data.get("paged", True):
            # Nothing was cut: the report is written as it was before paging existed.
            data.pop("paged", None)
        return data
