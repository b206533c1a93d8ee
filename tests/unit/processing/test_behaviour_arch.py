"""The behaviour model on traces of each guest architecture: syscall numbers, errno values,
signals, open flags and socket types of the guest's ABI, socket addresses in its byte order,
argv records before or after the exec, and processes switching ABI (i386 on x86-64)."""

from __future__ import annotations

import ipaddress

import pytest

from aasee.arch import get_abi
from aasee.processing.behaviour import Behaviour, build_behaviour
from aasee.processing.models import Process
from aasee.processing.trace_parser import parse_trace

from .tracegen import FILE_POINTER, Trace, wire_ipv4, wire_port


def run(trace: Trace, root: int, arch: str) -> Behaviour:
    return build_behaviour(parse_trace(trace.lines), root, "/", guest=arch)


def by_pid(result: Behaviour, pid: int) -> Process:
    (proc,) = [p for p in result.processes if p.pid == pid]
    return proc


def nr(abi: str, name: str) -> int:
    number = get_abi(abi).syscall_number(name)
    assert number is not None, (abi, name)
    return number


def argv_body(argv: list[str], prefix: str = "") -> str:
    args = " ".join(f'a{i}="{argv[i]}"' if i < len(argv) else f"a{i}=(fault)" for i in range(8))
    return f"{prefix}argc={len(argv)} {args}"


def exec_body(pid: int, filename: str) -> str:
    return f"filename={filename} pid={pid} old_pid={pid}"


def be_ipv4(address: str) -> int:
    """An IPv4 address as a big-endian guest's u32 probe reads it: the wire order as is."""
    return int.from_bytes(ipaddress.IPv4Address(address).packed, "big")


# --- 32-bit MIPS (o32) ---------------------------------------------------------------------
MIPS_O_FLAGS = 0x1 | 0x8 | 0x100 | 0x200 | 0x2000  # O_WRONLY|O_APPEND|O_CREAT|O_TRUNC|LARGEFILE


def mips_trace(big_endian: bool) -> Trace:
    abi = "mips-o32"
    port = (lambda p: p) if big_endian else wire_port
    ipv4 = be_ipv4 if big_endian else wire_ipv4
    t = Trace()
    # The agent's child, in the native ABI, becomes the sample (start_thread: argv first).
    t.enter(100, nr(abi, "execve"), comm="agent")
    t.add(100, "argv", argv_body(["/tmp/bot", "-d"]), comm="bot")
    t.add(100, "sched_process_exec", exec_body(100, "/tmp/bot"), comm="bot")
    t.leave(100, nr(abi, "execve"), 0, comm="bot")
    # socket(AF_INET, SOCK_STREAM): MIPS numbers SOCK_STREAM 2 (SOCK_DGRAM elsewhere).
    t.syscall(100, nr(abi, "socket"), [2, 2, 0], ret=3, comm="bot")
    t.enter(100, nr(abi, "connect"), [3], comm="bot")
    t.add(
        100,
        "connect",
        f"fam=2 port={port(4444)} addr={ipv4('198.51.100.7')} a6hi=0x0 a6lo=0x0 len=16",
        comm="bot",
    )
    t.add(100, "connect_r", "ret=-146", comm="bot")  # ECONNREFUSED is 146 on MIPS
    t.leave(100, nr(abi, "connect"), -146, comm="bot")
    # A datagram socket (SOCK_DGRAM is 1 on MIPS) sending a DNS query.
    t.syscall(100, nr(abi, "socket"), [2, 1, 0], ret=4, comm="bot")
    t.enter(100, nr(abi, "sendto"), [4], comm="bot")
    t.add(
        100,
        "udpsend",
        f"daddr=0 dport=0 fam=2 port={port(53)} addr={ipv4('10.0.2.3')} a6hi=0x0 a6lo=0x0 size=33",
        comm="bot",
    )
    t.leave(100, nr(abi, "sendto"), 33, comm="bot")
    t.enter(100, nr(abi, "openat"), comm="bot")
    t.open(100, "/etc/rc.local", flags=MIPS_O_FLAGS, mode=0o755, comm="bot")
    t.leave(100, nr(abi, "openat"), 5, comm="bot")
    t.enter(100, nr(abi, "open"), comm="bot")
    t.open(100, "/etc/passwd", flags=0x2000, ret=-2, comm="bot")
    t.leave(100, nr(abi, "open"), -2, comm="bot")
    t.exit(100, 16, comm="bot")  # killed by signal 16: SIGUSR1 on MIPS
    return t


@pytest.fixture(scope="module")
def big() -> Behaviour:
    return run(mips_trace(big_endian=True), 100, "mips")


class TestMips:
    def test_connect_decoded_in_big_endian(self, big: Behaviour) -> None:
        (conn,) = big.network.connections
        assert (conn.proto, conn.family, conn.dst_ip, conn.dst_port, conn.result) == (
            "tcp",
            "ipv4",
            "198.51.100.7",
            4444,
            "ECONNREFUSED",
        )

    def test_udp_and_dns_in_big_endian(self, big: Behaviour) -> None:
        (udp,) = big.network.udp
        assert (udp.dst_ip, udp.dst_port, udp.bytes) == ("10.0.2.3", 53, 33)
        (dns,) = big.network.dns
        assert (dns.server, dns.port) == ("10.0.2.3", 53)

    def test_o32_syscall_numbers_are_named(self, big: Behaviour) -> None:
        counts = big.syscalls.counts
        assert counts == {
            "execve": 1,
            "socket": 2,
            "connect": 1,
            "sendto": 1,
            "openat": 1,
            "open": 1,
        }
        assert not any(name.startswith(("syscall_", "invalid")) for name in counts)

    def test_mips_open_flags_errno_and_signal(self, big: Behaviour) -> None:
        (written,) = big.files.written
        assert (written.path, written.flags) == (
            "/etc/rc.local",
            "O_WRONLY|O_CREAT|O_TRUNC|O_APPEND",
        )
        (created,) = big.files.created
        assert (created.path, created.mode) == ("/etc/rc.local", "0755")
        (read,) = big.files.read
        assert (read.path, read.flags, read.ok, read.error) == (
            "/etc/passwd",
            "O_RDONLY",
            False,
            "ENOENT",
        )
        proc = by_pid(big, 100)
        assert (proc.exit_signal, proc.exit_signal_name, proc.abi) == (16, "SIGUSR1", "mips-o32")
        assert proc.argv == ["/tmp/bot", "-d"]

    def test_little_endian_mips_decodes_the_same(self, big: Behaviour) -> None:
        little = run(mips_trace(big_endian=False), 100, "mipsel")
        assert little.network == big.network
        assert little.files == big.files
        assert little.syscalls == big.syscalls

    def test_the_same_trace_read_as_x86_64_means_something_else(self) -> None:
        wrong = run(mips_trace(big_endian=True), 100, "x86_64")
        (conn,) = wrong.network.connections
        assert (conn.dst_ip, conn.dst_port, conn.result) != ("198.51.100.7", 4444, "ECONNREFUSED")


# --- 32-bit ARM (EABI) ---------------------------------------------------------------------
def arm_trace() -> Trace:
    """argv is read on the return to user space: after the exec event, and (the probe has no
    filter on arm) after every other syscall too, where it reads whatever the stack holds."""
    abi = "arm"
    junk = argv_body(["\x01garbage"])
    t = Trace()
    t.syscall(200, nr(abi, "dup2"), [5, 1], ret=1, comm="agent")
    t.add(200, "argv", junk, comm="agent")
    t.enter(200, nr(abi, "execve"), comm="agent")
    t.add(200, "sched_process_exec", exec_body(200, "/tmp/armbot"), comm="armbot")
    t.add(200, "argv", argv_body(["./armbot", "x"]), comm="armbot")
    t.leave(200, nr(abi, "execve"), 0, comm="armbot")
    t.enter(200, nr(abi, "open"), comm="armbot")
    # O_RDONLY|O_DIRECTORY|O_LARGEFILE with ARM's bits (x86 would read O_NOFOLLOW|...).
    t.open(200, "/proc", flags=0x4000 | 0x20000, comm="armbot")
    t.add(200, "argv", junk, comm="armbot")
    t.leave(200, nr(abi, "open"), 3, comm="armbot")
    t.enter(200, nr(abi, "openat"), comm="armbot")
    t.open(200, "/tmp/.x", flags=0x1 | 0x40 | 0x20000, mode=0o600, comm="armbot")
    t.leave(200, nr(abi, "openat"), 4, comm="armbot")
    t.syscall(200, nr(abi, "clone"), [0x11, 0], ret=201, comm="armbot")
    t.fork(200, 201, comm="armbot")
    t.enter(201, nr(abi, "execve"), comm="armbot")
    t.add(201, "sched_process_exec", exec_body(201, "/bin/busybox"), comm="busybox")
    t.add(201, "argv", argv_body(["wget", "http://x/y"]), comm="busybox")
    t.leave(201, nr(abi, "execve"), 0, comm="busybox")
    t.syscall(201, nr(abi, "set_tls"), [0x1000], ret=0, comm="busybox")
    t.exit(201, 1 << 8, comm="busybox")
    t.exit(200, 13, comm="armbot")  # SIGPIPE
    return t


@pytest.fixture(scope="module")
def arm() -> Behaviour:
    return run(arm_trace(), 200, "armhf")


class TestArm:
    def test_argv_after_the_exec_and_junk_ignored(self, arm: Behaviour) -> None:
        root, child = by_pid(arm, 200), by_pid(arm, 201)
        assert (root.image, root.argv) == ("/tmp/armbot", ["./armbot", "x"])
        assert root.execs[0].argv == ["./armbot", "x"] and root.execs[0].argc == 2
        assert (child.image, child.argv) == ("/bin/busybox", ["wget", "http://x/y"])
        assert child.execs[0].argc == 2

    def test_arm_open_flags(self, arm: Behaviour) -> None:
        assert [d.path for d in arm.files.directories] == ["/proc"]
        (written,) = arm.files.written
        assert (written.path, written.flags) == ("/tmp/.x", "O_WRONLY|O_CREAT")

    def test_eabi_syscall_names(self, arm: Behaviour) -> None:
        per = arm.syscalls.per_process
        assert per[by_pid(arm, 200).key] == {
            "execve": 1,
            "open": 1,
            "openat": 1,
            "clone": 1,
        }
        assert per[by_pid(arm, 201).key] == {"execve": 1, "set_tls": 1}
        assert by_pid(arm, 200).exit_signal_name == "SIGPIPE"
        assert by_pid(arm, 201).exit_code == 1


# --- 64-bit ARM ----------------------------------------------------------------------------
def aarch64_trace() -> Trace:
    """The arm64 argv probe prints the syscall number first and fires after the exec."""
    abi = "aarch64"
    t = Trace()
    t.enter(300, nr(abi, "execve"), comm="agent")
    t.add(300, "sched_process_exec", exec_body(300, "/tmp/a64"), comm="a64")
    t.add(300, "argv", argv_body(["/tmp/a64", "--serve"], prefix="nr=-1 "), comm="a64")
    t.leave(300, -1, 0, comm="a64")
    t.enter(300, nr(abi, "openat"), comm="a64")
    t.open(300, "/tmp/log", flags=0x1 | 0x40 | 0x200 | 0x20000, comm="a64")
    t.leave(300, nr(abi, "openat"), 3, comm="a64")
    t.syscall(300, nr(abi, "dup3"), [3, 1, 0], ret=1, comm="a64")
    t.syscall(300, nr(abi, "close"), [3], ret=0, comm="a64")
    # A thread: clone with CLONE_THREAD, clone's arm64 number.
    t.enter(300, nr(abi, "clone"), [0x3D0F00])
    t.fork(300, 301, comm="a64")
    t.leave(300, nr(abi, "clone"), 301, comm="a64")
    t.syscall(300, nr(abi, "socket"), [2, 1, 0], ret=4, comm="a64")
    t.enter(300, nr(abi, "bind"), [4], comm="a64")
    t.add(300, "bind", f"fam=2 port={wire_port(8080)} addr=0 a6hi=0x0 a6lo=0x0 len=16", comm="a64")
    t.leave(300, nr(abi, "bind"), 0, comm="a64")
    t.syscall(301, nr(abi, "write"), [1], ret=5, comm="a64", tgid=300)
    return t


@pytest.fixture(scope="module")
def arm64() -> Behaviour:
    return run(aarch64_trace(), 300, "arm64")


class TestAarch64:
    def test_argv_with_leading_syscall_number(self, arm64: Behaviour) -> None:
        root = by_pid(arm64, 300)
        assert (root.image, root.argv, root.abi) == ("/tmp/a64", ["/tmp/a64", "--serve"], "aarch64")
        assert [p.pid for p in arm64.processes] == [300]
        assert root.threads == [301]

    def test_descriptors_and_names(self, arm64: Behaviour) -> None:
        (written,) = arm64.files.written
        assert written.flags == "O_WRONLY|O_CREAT|O_TRUNC"
        assert arm64.syscalls.counts == {
            "execve": 1,
            "openat": 1,
            "dup3": 1,
            "close": 1,
            "clone": 1,
            "socket": 1,
            "bind": 1,
            "write": 1,
        }
        (bind,) = arm64.network.binds
        assert (bind.proto, bind.ip, bind.port) == ("tcp", "0.0.0.0", 8080)


# --- x86-64 running an i386 program --------------------------------------------------------
def compat_trace() -> Trace:
    t = Trace()
    t.enter(400, 59, comm="python3")
    t.add(400, "argv", argv_body(["/tmp/dropper"]), comm="dropper")
    t.add(400, "sched_process_exec", exec_body(400, "/tmp/dropper"), comm="dropper")
    t.leave(400, 59, 0, comm="dropper")
    t.syscall(400, 57, ret=401, comm="dropper")  # fork
    t.fork(400, 401, comm="dropper")
    # The child execs an i386 program: compat_start_thread fires argv__i386.
    t.enter(401, 59, comm="dropper")
    t.add(401, "argv__i386", argv_body(["./bot32", "-x"]), comm="bot32")
    t.add(401, "sched_process_exec", exec_body(401, "/tmp/bot32"), comm="bot32")
    t.leave(401, 59, 0, comm="bot32")
    # From now on its raw syscalls are i386 numbers: 5 open, 4 write, 102 socketcall, 15 chmod.
    t.enter(401, 5, comm="bot32")
    t.open(401, "/tmp/.cfg", flags=0x8241, mode=0o644, comm="bot32")
    t.leave(401, 5, 3, comm="bot32")
    t.syscall(401, 4, [3], ret=10, comm="bot32")
    t.syscall(401, 6, [3], ret=0, comm="bot32")  # close
    t.syscall(401, 102, [1, 0xFFD0], ret=4, comm="bot32")
    t.enter(401, 15, comm="bot32")
    t.add(401, "chmod__i386", 'path="/tmp/.cfg" mode=0x1ed', comm="bot32")
    t.leave(401, 15, 0, comm="bot32")
    # Its fork is i386 too, until it execs a 64-bit program.
    t.syscall(401, 2, ret=402, comm="bot32")  # i386 fork
    t.fork(401, 402, comm="bot32")
    t.syscall(402, 20, ret=402, comm="bot32")  # i386 getpid
    t.enter(402, 11, comm="bot32")  # i386 execve
    t.add(402, "argv", argv_body(["uname", "-a"]), comm="uname")
    t.add(402, "sched_process_exec", exec_body(402, "/bin/uname"), comm="uname")
    t.leave(402, 11, 0, comm="uname")
    t.syscall(402, 63, ret=0, comm="uname")  # x86_64 uname
    t.exit(402, 0, comm="uname")
    t.exit(401, 11, comm="bot32")  # SIGSEGV
    t.exit(400, 0, comm="dropper")
    return t


@pytest.fixture(scope="module")
def compat() -> Behaviour:
    return run(compat_trace(), 400, "x86_64")


class TestX86Compat:
    def test_processes_carry_their_abi(self, compat: Behaviour) -> None:
        assert [(p.pid, p.abi) for p in compat.processes] == [
            (400, "x86_64"),
            (401, "i386"),
            (402, "x86_64"),
        ]
        child = by_pid(compat, 401)
        assert (child.image, child.argv, child.exit_signal_name) == (
            "/tmp/bot32",
            ["./bot32", "-x"],
            "SIGSEGV",
        )

    def test_i386_syscalls_are_named_with_the_i386_table(self, compat: Behaviour) -> None:
        per = compat.syscalls.per_process
        # execve was entered as a 64-bit call; everything after it is i386.
        assert per[by_pid(compat, 401).key] == {
            "execve": 1,
            "open": 1,
            "write": 1,
            "close": 1,
            "socketcall": 1,
            "chmod": 1,
            "fork": 1,
        }
        assert per[by_pid(compat, 402).key] == {"getpid": 1, "execve": 1, "uname": 1}
        assert per[by_pid(compat, 400).key] == {"execve": 1, "fork": 1}

    def test_i386_probe_variants_are_recorded(self, compat: Behaviour) -> None:
        (chmod,) = compat.files.chmod
        assert (chmod.path, chmod.mode, chmod.op, chmod.ok) == ("/tmp/.cfg", "0755", "chmod", True)
        (written,) = compat.files.written
        assert (written.path, written.flags, written.pid) == (
            "/tmp/.cfg",
            "O_WRONLY|O_CREAT|O_TRUNC",
            401,
        )

    def test_i386_descriptor_effects_use_i386_numbers(self) -> None:
        # i386 open is 5 and close 6 (x86-64's fstat and lstat): the descriptor table follows.
        t = Trace()
        t.enter(500, 59, comm="agent")
        t.add(500, "argv__i386", argv_body(["./b"]), comm="b")
        t.add(500, "sched_process_exec", exec_body(500, "/tmp/b"), comm="b")
        t.leave(500, 59, 0, comm="b")
        t.enter(500, 5, comm="b").open(500, "/tmp/x", flags=0x8000, comm="b").leave(500, 5, 3)
        t.enter(500, 94, [3]).add(500, "fchmod__i386", "fd=3 mode=0x1ff").leave(500, 94, 0)
        t.syscall(500, 6, [3], ret=0)
        t.enter(500, 94, [3]).add(500, "fchmod__i386", "fd=3 mode=0x1ed").leave(500, 94, 0)
        result = run(t, 500, "x86_64")
        assert [(c.path, c.mode) for c in result.files.chmod] == [
            ("/tmp/x", "0777"),
            (None, "0755"),
        ]
        assert result.processes[0].abi == "i386"
        assert result.syscalls.counts == {"execve": 1, "open": 1, "fchmod": 2, "close": 1}


def test_every_profile_decodes_an_empty_trace() -> None:
    for arch in ("x86_64", "aarch64", "armhf", "mipsel", "mips", "amd64", "arm"):
        result = build_behaviour([], None, guest=arch)
        assert result.processes == [] and result.syscalls.total == 0


def test_default_is_x86_64() -> None:
    t = Trace()
    t.enter(10, 59, comm="agent")
    t.add(10, "argv", argv_body(["/tmp/s"]), comm="s")
    t.add(10, "sched_process_exec", exec_body(10, "/tmp/s"), comm="s")
    t.leave(10, 59, 0, comm="s")
    t.enter(10, 257).open(10, "/etc/hosts", ret=FILE_POINTER).leave(10, 257, 3)
    result = build_behaviour(parse_trace(t.lines), 10)
    assert result.syscalls.counts == {"execve": 1, "openat": 1}
    assert result.processes[0].abi == "x86_64"
