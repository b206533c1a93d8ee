"""Builds synthetic reports record by record, the way the behaviour model would fill them."""

from __future__ import annotations

import json
import posixpath
from types import SimpleNamespace
from typing import Any, Literal, cast

from aasee.images.wine_prefix import HIVES, WINE_LOADER, WINE_PREFIX, windows_sample_dir
from aasee.processing.models import (
    Analysis,
    Bind,
    Connection,
    DirectoryOpen,
    DiskChange,
    DnsAnswer,
    DnsQuery,
    DnsRecord,
    DroppedFile,
    ExecRecord,
    FileAccess,
    FileChmod,
    FileCreate,
    FileDelete,
    FileLink,
    FileMkdir,
    FileRename,
    FileSystemDiff,
    Flow,
    HttpRequest,
    Process,
    PtraceCall,
    Report,
    Sample,
    TlsClientHello,
    UdpSend,
    UnixSocket,
)
from aasee.processing.report import report_dict
from aasee.processing.static.models import (
    ElfInfo,
    ScriptIndicator,
    ScriptInfo,
    StaticAnalysis,
    StringsInfo,
    YaraMatch,
)
from aasee.processing.static.scripts import script_commands
from aasee.processing.windows.model import WindowsEvidence, WindowsRegistryChange
from aasee.processing.windows.plugin import WINE_WARNING, _disk_files, _files, _noise, _processes
from aasee.processing.windows.registry import diff_hives, parse_hive

SAMPLE = Sample(name="sample", size=4, md5="0" * 32, sha1="0" * 40, sha256="0" * 64)
ROOT = "100@1.000000"
WRITE = "O_WRONLY|O_CREAT|O_TRUNC"
APPEND = "O_WRONLY|O_CREAT|O_APPEND"
WINE64 = "/usr/lib/wine/wine64"
PRELOADER = "/usr/lib/wine/wine64-preloader"


class Builder:
    """A report in the making; every record gets a later time than the one before."""

    def __init__(self, image: str = "/tmp/sample") -> None:
        self.time = 1.0
        self.report = Report(sample=SAMPLE, analysis=Analysis(id="test"))
        self.next_pid = 101
        self.report.processes.append(
            Process(
                key=ROOT,
                pid=100,
                comm=posixpath.basename(image)[:15],
                image=image,
                argv=[image],
                start=1.0,
                execs=[ExecRecord(time=1.0, filename=image, argv=[image], argc=1)],
            )
        )
        self.hives: dict[str, tuple[str, str]] | None = None
        """Set by :meth:`wine`: registry hive file -> (text before the run, text after)."""

    def tick(self) -> float:
        self.time += 0.01
        return round(self.time, 6)

    def _process(self, key: str) -> Process:
        return next(p for p in self.report.processes if p.key == key)

    def pid(self, key: str) -> int:
        return self._process(key).pid

    def _base(self, key: str) -> dict[str, Any]:
        return {"pid": self.pid(key), "process": key, "time": self.tick()}

    # --- processes ---------------------------------------------------------------------
    def fork(self, parent: str = ROOT, comm: str | None = None) -> str:
        """A child that runs its parent's program (no exec)."""
        start = self.tick()
        pid = self.next_pid
        self.next_pid += 1
        mother = self._process(parent)
        key = f"{pid}@{start:.6f}"
        self.report.processes.append(
            Process(
                key=key,
                pid=pid,
                ppid=mother.pid,
                parent=parent,
                comm=comm or mother.comm,
                image=mother.image,
                argv=list(mother.argv),
                start=start,
            )
        )
        mother.children.append(key)
        return key

    def run(
        self,
        argv: list[str],
        parent: str = ROOT,
        image: str | None = None,
        cwd: str | None = None,
    ) -> str:
        """A child process that executed ``argv`` (program looked up in /usr/bin)."""
        key = self.fork(parent)
        child = self._process(key)
        filename = image or (argv[0] if argv[0].startswith("/") else f"/usr/bin/{argv[0]}")
        child.image, child.argv = filename, argv[:8]
        child.cwd = cwd
        child.comm = posixpath.basename(filename)[:15]
        child.execs.append(
            ExecRecord(time=self.tick(), filename=filename, argv=argv[:8], argc=len(argv))
        )
        return key

    def shell(self, script: str, parent: str = ROOT) -> str:
        return self.run(["sh", "-c", script], parent, image="/bin/sh")

    def exec_in(self, key: str, filename: str, argv: list[str] | None = None) -> None:
        """The process ``key`` executes another program."""
        process = self._process(key)
        argv = argv or [filename]
        process.image, process.argv = filename, argv
        process.comm = posixpath.basename(filename)[:15]
        process.execs.append(ExecRecord(time=self.tick(), filename=filename, argv=argv))

    def end(self, key: str) -> None:
        """The process ``key`` exits now."""
        self._process(key).exit = self.tick()

    def rename_process(self, key: str, comm: str) -> None:
        self._process(key).comm = comm

    # --- files -------------------------------------------------------------------------
    def read(self, path: str, key: str = ROOT, ok: bool = True) -> None:
        error = None if ok else "EACCES"
        self.report.files.read.append(
            FileAccess(path=path, flags="O_RDONLY", ok=ok, error=error, **self._base(key))
        )

    def write(self, path: str, key: str = ROOT, flags: str = WRITE, ok: bool = True) -> None:
        error = None if ok else "EACCES"
        self.report.files.written.append(
            FileAccess(path=path, flags=flags, ok=ok, error=error, **self._base(key))
        )
        if ok and "O_CREAT" in flags:
            self.report.files.created.append(FileCreate(path=path, mode="0644", **self._base(key)))

    def create(self, path: str, mode: str, key: str = ROOT) -> None:
        self.report.files.written.append(
            FileAccess(path=path, flags=WRITE, ok=True, **self._base(key))
        )
        self.report.files.created.append(
            FileCreate(path=path, mode=mode, ok=True, **self._base(key))
        )

    def delete(self, path: str, key: str = ROOT, op: str = "unlink", ok: bool = True) -> None:
        self.report.files.deleted.append(FileDelete(path=path, op=op, ok=ok, **self._base(key)))  # type: ignore[arg-type]

    def rename(self, src: str, dst: str, key: str = ROOT) -> None:
        self.report.files.renamed.append(FileRename(src=src, dst=dst, ok=True, **self._base(key)))

    def chmod(self, path: str, mode: str, key: str = ROOT) -> None:
        self.report.files.chmod.append(
            FileChmod(path=path, mode=mode, op="fchmodat", ok=True, **self._base(key))
        )

    def mkdir(self, path: str, key: str = ROOT) -> None:
        self.report.files.mkdir.append(
            FileMkdir(path=path, mode="0755", ok=True, **self._base(key))
        )

    def link(self, path: str, target: str, key: str = ROOT) -> None:
        self.report.files.links.append(
            FileLink(kind="symlink", target=target, path=path, ok=True, **self._base(key))
        )

    def listdir(self, path: str, key: str = ROOT) -> None:
        self.report.files.directories.append(DirectoryOpen(path=path, ok=True, **self._base(key)))

    # --- network -----------------------------------------------------------------------
    def connect(
        self, ip: str, port: int, key: str = ROOT, count: int = 1, result: str = "ok"
    ) -> None:
        family: Literal["ipv4", "ipv6"] = "ipv6" if ":" in ip else "ipv4"
        self.report.network.connections.append(
            Connection(
                proto="tcp",
                family=family,
                dst_ip=ip,
                dst_port=port,
                count=count,
                result=result,
                **self._base(key),
            )
        )

    def udp(self, ip: str, port: int, key: str = ROOT) -> None:
        self.report.network.udp.append(
            UdpSend(
                family="ipv4", dst_ip=ip, dst_port=port, bytes=40, result="ok", **self._base(key)
            )
        )

    def unix(self, path: str, key: str = ROOT) -> None:
        """A connect to the Unix socket at ``path``."""
        base = self._base(key)
        self.report.network.unix.append(
            UnixSocket(op="connect", path=path, path_truncated=False, result="ok", **base)
        )

    def bind(self, port: int, key: str = ROOT) -> None:
        self.report.network.binds.append(
            Bind(
                proto="tcp", family="ipv4", ip="0.0.0.0", port=port, result="ok", **self._base(key)
            )
        )

    def dns(self, name: str, answer: str | None = "203.0.113.10", key: str = ROOT) -> None:
        base = self._base(key)
        self.report.network.dns.append(
            DnsQuery(server="10.0.2.3", port=53, pid=base["pid"], process=key, time=base["time"])
        )
        answers = [DnsAnswer(name=name, type="A", ttl=60, data=answer)] if answer else []
        self.report.network.dns_traffic.append(
            DnsRecord(
                time_epoch=1000 + base["time"],
                src_ip="10.0.2.15",
                src_port=40000,
                dst_ip="10.0.2.3",
                dst_port=53,
                proto="udp",
                id=1,
                name=name,
                type="A",
                rcode="NOERROR" if answer else "NXDOMAIN",
                answers=answers,
                pid=base["pid"],
                process=key,
            )
        )
        self.report.network.capture.analysed = True

    def http(
        self,
        host: str,
        path: str = "/",
        method: str = "GET",
        body: int = 0,
        at: float | None = None,
        key: str = ROOT,
        port: int = 80,
    ) -> None:
        base = self._base(key)
        self.report.network.http.append(
            HttpRequest(
                time_epoch=at if at is not None else 1000 + base["time"],
                src_ip="10.0.2.15",
                src_port=40001,
                dst_ip="203.0.113.10",
                dst_port=port,
                method=method,
                version="HTTP/1.1",
                host=host,
                path=path,
                url=f"http://{host}{path}",
                body_size=body,
                pid=base["pid"],
                process=key,
            )
        )
        self.report.network.capture.analysed = True

    def tls(self, sni: str, at: float, key: str = ROOT, port: int = 443) -> None:
        self.report.network.tls.append(
            TlsClientHello(
                time_epoch=at,
                src_ip="10.0.2.15",
                src_port=40002,
                dst_ip="203.0.113.11",
                dst_port=port,
                sni=sni,
                version="TLS 1.3",
                client_version="TLS 1.2",
                ja3="771,4865,0,29,0",
                ja3_md5="0" * 32,
                pid=self.pid(key),
                process=key,
            )
        )
        self.report.network.capture.analysed = True

    def flow(self, ip: str, port: int, sent: int = 100, received: int = 100) -> None:
        t = 1000 + self.tick()
        self.report.network.flows.append(
            Flow(
                proto="tcp",
                ip_proto=6,
                family="ipv4",
                direction="outbound",
                src_ip="10.0.2.15",
                src_port=40003,
                dst_ip=ip,
                dst_port=port,
                first_epoch=t,
                last_epoch=t + 1,
                src_packets=10,
                src_payload=sent,
                dst_packets=10,
                dst_payload=received,
            )
        )
        self.report.network.capture.analysed = True

    # --- syscalls and static -----------------------------------------------------------
    def syscall(self, name: str, count: int = 1, key: str = ROOT) -> None:
        per = self.report.syscalls.per_process.setdefault(key, {})
        per[name] = per.get(name, 0) + count
        self.report.syscalls.counts[name] = self.report.syscalls.counts.get(name, 0) + count
        self.report.syscalls.total += count

    def ptrace(self, request: int, name: str, target: int | None, key: str = ROOT) -> None:
        self.report.syscalls.ptrace.append(
            PtraceCall(
                request=request, request_name=name, target=target, ok=True, **self._base(key)
            )
        )

    def static(self, **fields: Any) -> StaticAnalysis:
        """Static analysis of the sample (created on first use), fields replaced."""
        if self.report.static is None:
            self.report.static = StaticAnalysis(
                name="sample", size=4, md5="0" * 32, sha1="0" * 40, sha256="0" * 64
            )
        for name, value in fields.items():
            setattr(self.report.static, name, value)
        return self.report.static

    def shell_script(self, text: str, dropped: str | None = None) -> None:
        """The sample (or, with ``dropped``, a dropped file at that path) is the shell script
        ``text``: its static analysis holds the commands the parser reads out of it."""
        commands, cut = script_commands(text)
        info = ScriptInfo(
            language="shell",
            interpreter="/bin/sh",
            lines=text.count("\n") + 1,
            commands=commands,
            commands_truncated=cut,
        )
        if dropped is None:
            self.static(script=info)
        else:
            static = StaticAnalysis(
                name=posixpath.basename(dropped), size=4, md5="0" * 32, sha1="0" * 40,
                sha256="0" * 64, script=info,
            )  # fmt: skip
            self.dropped(dropped, static)

    def dropped(self, path: str, static: StaticAnalysis) -> None:
        self.report.dropped.append(
            DroppedFile(path=path, size=4, collected=4, pid=100, process=ROOT, static=static)
        )

    # --- Windows samples run by Wine --------------------------------------------------
    def wine(self, name: str = "sample.exe") -> None:
        """The sample is a Windows program: the runner started ``wine <Downloads>/<name>``
        (the root process), and :meth:`build` fills the report's ``windows`` section the way
        the windows plugin does, from the processes, file operations, disk diff and hives."""
        path = f"{windows_sample_dir()}/{name}"
        self.exec_in(ROOT, WINE_LOADER, [WINE_LOADER, path])
        self.exec_in(ROOT, PRELOADER, [PRELOADER, WINE64, path])
        self.rename_process(ROOT, name[:15])  # Wine names the process after the program
        self.hives = {}

    def win_run(self, words: list[str], parent: str = ROOT) -> str:
        """A Windows program ``parent`` started (CreateProcess): Wine forks twice and execs
        its preloader with the caller's command line split into ``words`` (only the first
        six fit in the trace's eight argv strings), then names the process after the
        program it found (``cmd`` -> ``cmd.exe``)."""
        middle = self.fork(parent)
        key = self.run([PRELOADER, WINE64, *words], parent=middle, image=PRELOADER)
        self.end(middle)
        program = words[0].replace("\\", "/").rsplit("/", 1)[-1]
        self.rename_process(key, (program if "." in program else f"{program}.exe")[:15])
        return key

    def hive(self, name: str, before: str, after: str) -> None:
        """The Wine prefix's registry hive file ``name`` (``user.reg``...) before and after the
        run, in Wine's text format (a header line is added)."""
        assert self.hives is not None, "wine() first"
        header = "WINE REGISTRY Version 2\n;; All keys relative to \\\\Machine\n\n"
        self.hives[name] = (header + before, header + after)

    def disk_change(
        self,
        path: str,
        sha256: str | None,
        change: Literal["created", "modified", "deleted"] = "created",
    ) -> None:
        """A file the host-side disk diff found changed (``sha256`` of its new content)."""
        if self.report.filesystem is None:
            self.report.filesystem = FileSystemDiff(method="test", complete=True)
        self.report.filesystem.changes.append(
            DiskChange(
                path=path,
                change=change,
                type="file",
                inode=1000 + self.next_pid,
                size=4,
                mode="0644",
                uid=0,
                gid=0,
                sha256=sha256,
                traced=True,
            )
        )

    def _windows(self) -> WindowsEvidence:
        assert self.hives is not None
        evidence = WindowsEvidence(
            prefix=WINE_PREFIX, warning=WINE_WARNING, registry_source="host-side disk diff"
        )
        evidence.processes = _processes(self.report.processes)
        evidence.files = _files(self.report.files, WINE_PREFIX)
        context = cast(Any, SimpleNamespace(filesystem=self.report.filesystem))
        evidence.files += _disk_files(context, WINE_PREFIX, len(evidence.files))
        for name, (before, after) in self.hives.items():
            for found in diff_hives(parse_hive(before), parse_hive(after), HIVES[name]):
                if not _noise(found.key, found.value):
                    evidence.registry.append(WindowsRegistryChange(hive=name, **found.__dict__))
        return evidence

    def build(self) -> Report:
        if self.hives is not None:
            self.report.windows = self._windows()
        return self.report


def elf(packers: list[str] | None = None) -> ElfInfo:
    return ElfInfo(
        machine="x86-64",
        bits=64,
        endianness="little",
        elf_type="EXEC",
        entry_point=0x401000,
        static=True,
        packers=packers or [],
    )


def strings(**fields: Any) -> StringsInfo:
    return StringsInfo(**fields)


def yara(rule: str, tags: list[str]) -> YaraMatch:
    return YaraMatch(rule=rule, namespace="bundled", source="bundled", tags=tags)


def script(indicators: list[str]) -> ScriptInfo:
    return ScriptInfo(
        language="sh",
        indicators=[
            ScriptIndicator(id=i, description=i, line=n + 1, text=i)
            for n, i in enumerate(indicators)
        ],
    )


def resolve(report: Report, ref: str) -> Any:
    """The value a JSON Pointer names in the report's JSON (KeyError/IndexError if none)."""
    value: Any = json.loads(json.dumps(report_dict(report)))
    if ref == "":
        return value
    assert ref.startswith("/"), ref
    for token in ref[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        value = value[int(token)] if isinstance(value, list) else value[token]
    return value
