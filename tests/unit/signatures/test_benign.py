"""Ordinary programs: coreutils, a C compile and run, a Python script. Nothing above low."""

from __future__ import annotations

from aasee.processing.attack import attack_summary
from aasee.processing.scoring import score
from aasee.processing.signatures import run_signatures

from .builder import APPEND, ROOT, Builder

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _coreutils(b: Builder) -> None:
    b.exec_in(ROOT, "/tmp/sample.sh", ["/bin/sh", "/tmp/sample.sh"])
    ls = b.run(["ls", "-l", "/tmp"], image="/bin/ls")
    for path in (LIBC, "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/localtime"):
        b.read(path, key=ls)
    b.listdir("/tmp", key=ls)
    cat = b.run(["cat", "/etc/os-release"], image="/bin/cat")
    b.read("/etc/os-release", key=cat)
    b.run(["date", "+%F"], image="/bin/date")
    mkdir = b.run(["mkdir", "-p", "/tmp/work"], image="/bin/mkdir")
    b.mkdir("/tmp/work", key=mkdir)
    b.write("/tmp/work/list.txt")  # the shell's redirection
    sort = b.run(
        ["sort", "-o", "/tmp/work/sorted.txt", "/tmp/work/list.txt"], image="/usr/bin/sort"
    )
    b.read("/tmp/work/list.txt", key=sort)
    b.write("/tmp/work/sorted.txt", key=sort)
    cp = b.run(["cp", "-p", "/tmp/work/sorted.txt", "/tmp/work/copy.txt"], image="/bin/cp")
    b.write("/tmp/work/copy.txt", key=cp)
    b.syscall("utimensat", key=cp)
    b.run(["wc", "-l", "/tmp/work/copy.txt"], image="/usr/bin/wc")
    rm = b.run(["rm", "-f", "/tmp/work/list.txt"], image="/bin/rm")
    b.delete("/tmp/work/list.txt", key=rm)
    b.run(["id", "-u"], image="/usr/bin/id")


def _compile_and_run(b: Builder) -> None:
    gcc = b.run(["gcc", "-O2", "-o", "/tmp/hello", "/tmp/hello.c"], image="/usr/bin/gcc")
    cc1 = b.run(
        ["cc1", "/tmp/hello.c", "-o", "/tmp/ccA.s"],
        parent=gcc,
        image="/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
    )
    for header in ("stdio.h", "stdlib.h", "string.h"):
        b.read(f"/usr/include/{header}", key=cc1)
    b.read("/tmp/hello.c", key=cc1)
    b.write("/tmp/ccA.s", key=cc1)
    asm = b.run(["as", "-o", "/tmp/ccB.o", "/tmp/ccA.s"], parent=gcc, image="/usr/bin/as")
    b.read("/tmp/ccA.s", key=asm)
    b.write("/tmp/ccB.o", key=asm)
    collect = b.run(
        ["collect2", "-o", "/tmp/hello"],
        parent=gcc,
        image="/usr/lib/gcc/x86_64-linux-gnu/12/collect2",
    )
    ld = b.run(["ld", "-o", "/tmp/hello", "/tmp/ccB.o", "-lc"], parent=collect, image="/usr/bin/ld")
    b.read(LIBC, key=ld)
    b.read("/tmp/ccB.o", key=ld)
    b.create("/tmp/hello", "0777", key=ld)
    b.chmod("/tmp/hello", "0755", key=ld)
    b.delete("/tmp/ccA.s", key=gcc)
    b.delete("/tmp/ccB.o", key=gcc)
    hello = b.run(["/tmp/hello"])
    b.read(LIBC, key=hello)


def _python_script(b: Builder) -> None:
    b.exec_in(ROOT, "/usr/bin/python3.11", ["python3", "/tmp/sample.py"])
    for path in (
        "/tmp/sample.py",
        "/usr/lib/python3.11/os.py",
        "/usr/lib/python3.11/json/__init__.py",
        "/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so",
        "/tmp/data.json",
        "/etc/localtime",
        "/proc/self/maps",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        b.read(path)
    b.mkdir("/tmp/__pycache__")
    b.write("/tmp/__pycache__/helper.cpython-311.pyc")
    b.write("/tmp/out.csv")
    b.write("/tmp/out.log", flags=APPEND)
    b.dns("pypi.org", answer="151.101.0.223")
    b.connect("151.101.0.223", 443)
    b.tls("pypi.org", at=3000.0)
    b.flow("151.101.0.223", 443, sent=900, received=40_000)
    b.http("pypi.org", "/simple/requests/", at=3000.5)
    b.syscall("memfd_create")  # ctypes and multiprocessing use it for executable memory


def _assert_benign(fill: object) -> None:
    builder = Builder()
    fill(builder)  # type: ignore[operator]
    matches, errors = run_signatures(builder.build())
    assert errors == []
    loud = [
        (m.id, m.severity, [e.summary for e in m.evidence])
        for m in matches
        if m.severity not in ("info", "low")
    ]
    assert loud == []
    value, verdict, _ = score(matches)
    assert verdict == "benign" and value < 3
    attack_summary(matches)


def test_coreutils_run() -> None:
    _assert_benign(_coreutils)


def test_compile_and_run() -> None:
    _assert_benign(_compile_and_run)


def test_python_script() -> None:
    _assert_benign(_python_script)
