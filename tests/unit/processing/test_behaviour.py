"""Tests of the behaviour model built from trace events."""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.processing.behaviour import Behaviour, Limits, build_behaviour
from aasee.processing.models import Process
from aasee.processing.sockaddr import decode_inet, decode_unix
from aasee.processing.trace_parser import parse_trace, read_trace_lines

from .tracegen import (
    Trace,
    behaviour,
    record,
    started,
    wire_ipv4,
    wire_ipv6,
    wire_port,
)
from .work import grows_linearly

BASIC = Path(__file__).parents[2] / "data" / "trace-basic.log"


def by_pid(result: Behaviour, pid: int) -> list[Process]:
    return [p for p in result.processes if p.pid == pid]


@pytest.fixture(scope="module")
def basic() -> Behaviour:
    return build_behaviour(parse_trace(read_trace_lines(BASIC)), root_pid=117, initial_cwd="/")


class TestRealTrace:
    def test_process_tree(self, basic: Behaviour) -> None:
        assert [(p.pid, p.ppid) for p in basic.processes] == [(117, None), (122, 117)]
        root, child = basic.processes
        assert basic.root == root.key
        assert root.image == "/tmp/sample" and root.argv == ["/tmp/sample"]
        assert child.image == "/bin/ls" and child.argv == ["ls", "-l", "/tmp"]
        assert child.parent == root.key and root.children == [child.key]
        assert child.comm == "ls"
        assert child.exit == pytest.approx(5.905178) and child.exit_code == 0
        assert root.exit is None  # the trace stopped while the sample was still running
        assert root.cwd == "/tmp"  # set by the agent's chdir before exec
        (tree,) = basic.process_tree
        assert tree.pid == 117 and [c.pid for c in tree.children] == [122]

    def test_pre_exec_agent_events_are_dropped(self, basic: Behaviour) -> None:
        paths = [r.path for r in basic.files.read + basic.files.written]
        assert "/dev/null" not in paths
        assert basic.pre_exec_dropped > 0
        # ...but the execve that started the sample is counted.
        assert basic.syscalls.per_process[basic.root or ""]["execve"] == 1

    def test_files(self, basic: Behaviour) -> None:
        (written,) = basic.files.written
        assert (written.path, written.pid, written.ok) == ("/tmp/hello.txt", 117, True)
        assert written.flags == "O_WRONLY|O_CREAT|O_TRUNC"
        (created,) = basic.files.created
        assert (created.path, created.mode) == ("/tmp/hello.txt", "0644")
        (renamed,) = basic.files.renamed
        assert (renamed.src, renamed.dst, renamed.ok) == ("/tmp/hello.txt", "/tmp/hello2.txt", True)
        (chmod,) = basic.files.chmod
        assert (chmod.path, chmod.mode, chmod.pid) == ("/tmp/hello2.txt", "0600", 117)
        reads = {r.path for r in basic.files.read}
        assert "/etc/passwd" in reads and "/etc/ld.so.cache" in reads
        # Binaries loaded by execve are not reads; a listed directory is not a file read.
        assert not reads & {"/bin/ls", "/tmp/sample", "/lib64/ld-linux-x86-64.so.2", "/tmp"}
        assert [d.path for d in basic.files.directories] == ["/tmp"]

    def test_network(self, basic: Behaviour) -> None:
        (conn,) = basic.network.connections
        assert (conn.pid, conn.proto, conn.family) == (117, "tcp", "ipv4")
        assert (conn.dst_ip, conn.dst_port, conn.result) == ("198.51.100.7", 4444, "ECONNREFUSED")
        (unix,) = basic.network.unix
        assert (unix.path, unix.count, unix.result) == ("/var/run/nscd/socket", 4, "ENOENT")
        assert unix.path_truncated is False

    def test_ptrace_and_syscalls(self, basic: Behaviour) -> None:
        (call,) = basic.syscalls.ptrace
        assert (call.pid, call.request, call.request_name, call.ok) == (
            117,
            0,
            "PTRACE_TRACEME",
            True,
        )
        assert basic.syscalls.counts["ptrace"] == 1
        assert basic.syscalls.total == sum(basic.syscalls.counts.values())


class TestProcesses:
    def test_pid_reuse_makes_new_nodes(self) -> None:
        trace = started(200)
        trace.fork(200, 201).exec(201, "/bin/a", ["a"]).exit(201, 1 << 8, comm="a")
        trace.fork(200, 201).exec(201, "/bin/b", ["b"]).exit(201, 0, comm="b")
        result = behaviour(trace, 200)
        first, second = by_pid(result, 201)
        assert first.key != second.key
        assert (first.image, first.exit_code) == ("/bin/a", 1)
        assert (second.image, second.exit_code) == ("/bin/b", 0)
        assert by_pid(result, 200)[0].children == [first.key, second.key]

    def test_pid_reappearing_without_fork_is_a_new_process(self) -> None:
        trace = started(200).fork(200, 201).exit(201)
        trace.open(201, "/late", comm="late")
        first, second = by_pid(behaviour(trace, 200), 201)
        assert first.exit is not None and second.parent is None

    def test_threads_are_folded_by_tgid(self) -> None:
        trace = started(300)
        # clone3 carries no flags in the trace: the thread is known by its own lines.
        trace.enter(300, 435).fork(300, 301).leave(300, 435, 301)
        trace.leave(301, 435, 0, tgid=300)
        trace.open(301, "/etc/hosts", tgid=300)
        result = behaviour(trace, 300)
        assert [p.pid for p in result.processes] == [300]
        assert result.processes[0].threads == [301]
        (read,) = result.files.read
        assert (read.pid, read.process) == (301, result.processes[0].key)

    def test_threads_known_from_clone_flags(self) -> None:
        clone_thread = 0x3D0F00
        trace = started(300).enter(300, 56, [clone_thread]).fork(300, 302).leave(300, 56, 302)
        trace.open(302, "/etc/hosts", tgid=300)
        result = behaviour(trace, 300)
        assert [p.pid for p in result.processes] == [300]
        assert result.processes[0].threads == [302]

    def test_child_inherits_image_until_it_execs(self) -> None:
        trace = started(10, "/tmp/m", ["/tmp/m", "-x"]).fork(10, 11)
        child = by_pid(behaviour(trace, 10), 11)[0]
        assert (child.image, child.argv, child.execs) == ("/tmp/m", ["/tmp/m", "-x"], [])

    def test_argv_truncation(self) -> None:
        trace = started(10)
        args = " ".join(f'a{i}="arg{i}"' for i in range(8))
        trace.add(10, "argv", f"argc=12 {args}", comm="x")
        trace.add(10, "sched_process_exec", "filename=/bin/x pid=10 old_pid=10", comm="x")
        proc = behaviour(trace, 10).processes[0]
        assert proc.argv == [f"arg{i}" for i in range(8)] and proc.argv_truncated
        assert proc.execs[-1].argc == 12
        assert [e.filename for e in proc.execs] == ["/tmp/sample", "/bin/x"]

    def test_absurd_argc(self) -> None:
        trace = started(10)
        trace.add(
            10, "argv", "argc=18446744073709551615 " + " ".join(f"a{i}=(fault)" for i in range(8))
        )
        trace.add(10, "sched_process_exec", "filename=/bin/x pid=10 old_pid=10")
        proc = behaviour(trace, 10).processes[0]
        assert proc.argv == ["<unreadable>"] * 8 and proc.argv_truncated

    def test_exit_signal(self) -> None:
        trace = started(10).exit(10, 9)
        proc = behaviour(trace, 10).processes[0]
        assert (proc.exit_code, proc.exit_signal, proc.exit_signal_name) == (None, 9, "SIGKILL")

    def test_no_exec_of_root_is_reported(self) -> None:
        trace = Trace().open(10, "/dev/null", comm="python3")
        result = behaviour(trace, 10)
        assert result.processes == [] and result.root is None
        assert "never seen executing" in result.errors[0]

    def test_process_limit(self) -> None:
        trace = started(10)
        for child in range(11, 20):
            trace.fork(10, child).open(child, f"/tmp/f{child}", flags=0x241)
        result = build_behaviour(parse_trace(trace.lines), 10, "/", None, Limits(processes=3))
        assert len(result.processes) == 3
        assert result.truncated["processes"] == 7
        # Activity past the limit is charged to the ancestor, not lost.
        assert len(result.files.written) == 9

    def test_forged_forks_at_one_instant_stay_cheap(self) -> None:
        fork = record(10, "sched_process_fork", "comm=a pid=10 child_comm=a child_pid=11", ts=20.0)

        def forks(count: int) -> Behaviour:
            return behaviour(started(10).lines + [fork] * count, 10)

        result = forks(5000)
        keys = [p.key for p in result.processes]
        assert len(keys) == len(set(keys)) == 5001
        assert keys[-1] == "11@20.000000#5000"
        # Each repeat costs the same: twice the forks, twice the work (not four times).
        grows_linearly(forks, 1000, slack=1.05)

    def test_deep_tree_is_bounded(self) -> None:
        trace = started(1000)
        for pid in range(1000, 1050):
            trace.fork(pid, pid + 1)
        result = build_behaviour(parse_trace(trace.lines), 1000, "/", None, Limits(tree_depth=5))
        assert len(result.processes) == 51
        node = result.process_tree[0]
        depth = 1
        while node.children:
            node, depth = node.children[0], depth + 1
        assert depth == 5 and node.truncated


class TestPaths:
    def test_chdir_and_relative_paths(self) -> None:
        trace = Trace()
        trace.enter(50, 80, comm="python3").add(50, "chdir", 'path="/srv"', comm="python3")
        trace.leave(50, 80, 0, comm="python3")
        trace.enter(50, 59, comm="python3").exec(50, "./tool", ["./tool"]).leave(50, 59, 0)
        trace.open(50, "a.txt")
        trace.enter(50, 80).add(50, "chdir", 'path="sub/../data"').leave(50, 80, 0)
        trace.open(50, "../b.txt", flags=0x41)
        trace.enter(50, 80).add(50, "chdir", 'path="/missing"').leave(50, 80, -2)
        trace.fork(50, 51).open(51, "./c")
        result = behaviour(trace, 50, initial_cwd="/ignored")
        root = result.processes[0]
        assert root.image == "/srv/tool" and root.cwd == "/srv"
        assert [r.path for r in result.files.read] == ["/srv/a.txt", "/srv/data/c"]
        assert [w.path for w in result.files.written] == ["/srv/b.txt"]

    def test_initial_cwd_from_caller(self) -> None:
        trace = started(10).open(10, "x")
        assert behaviour(trace, 10, initial_cwd="/home/u").files.read[0].path == "/home/u/x"

    def test_paths_relative_to_a_directory_descriptor(self) -> None:
        trace = started(10)
        trace.enter(10, 257).open(10, "/etc", flags=0x18800).leave(10, 257, 3)
        trace.enter(10, 257).open(10, "passwd", dfd=3).leave(10, 257, 4)
        trace.enter(10, 257).open(10, "other", dfd=9).leave(10, 257, 5)
        trace.enter(10, 91, [4, 0o755]).add(10, "fchmod", "fd=4 mode=0x1ed").leave(10, 91, 0)
        result = behaviour(trace, 10)
        assert [r.path for r in result.files.read] == ["/etc/passwd", "other"]
        (chmod,) = result.files.chmod
        assert (chmod.op, chmod.fd, chmod.path, chmod.mode) == ("fchmod", 4, "/etc/passwd", "0755")

    def test_descriptors_are_inherited_not_shared(self) -> None:
        trace = started(10)
        trace.enter(10, 257).open(10, "/etc", flags=0x18800).leave(10, 257, 3)
        trace.fork(10, 11)
        trace.syscall(11, 3, [3], ret=0)  # the child closes its copy
        trace.enter(11, 257).open(11, "a", dfd=3).leave(11, 257, -9)
        trace.enter(10, 257).open(10, "b", dfd=3).leave(10, 257, 4)
        reads = behaviour(trace, 10).files.read
        assert [(r.pid, r.path) for r in reads] == [(11, "a"), (10, "/etc/b")]

    def test_unreadable_path(self) -> None:
        trace = started(10).add(10, "chmod", "path=(fault) mode=0x1ff")
        assert behaviour(trace, 10).files.chmod[0].path == "<unreadable>"


class TestFileOperations:
    def test_unlink_and_rmdir(self) -> None:
        trace = started(10)
        trace.add(10, "unlink", 'dfd=-100 path="/tmp/a"').add(10, "unlink_r", "ret=0")
        trace.add(10, "unlink", 'dfd=-100 path="/tmp/a"').add(10, "unlink_r", "ret=4294967294")
        trace.enter(10, 84).add(10, "rmdir", 'dfd=-100 path="/tmp/d"').leave(10, 84, -39)
        deleted = behaviour(trace, 10).files.deleted
        assert [(d.path, d.op, d.count, d.ok, d.error) for d in deleted] == [
            ("/tmp/a", "unlink", 2, True, "ENOENT"),
            ("/tmp/d", "rmdir", 1, False, "ENOTEMPTY"),
        ]

    def test_failed_write_is_flagged_and_not_created(self) -> None:
        trace = started(10).open(10, "/etc/shadow", flags=0x8241, ret=-13)
        files = behaviour(trace, 10).files
        (written,) = files.written
        assert (written.ok, written.error) == (False, "EACCES")
        assert files.created == []

    def test_repeated_access_is_deduplicated(self) -> None:
        trace = started(10)
        for _ in range(5):
            trace.open(10, "/etc/hosts")
        (read,) = behaviour(trace, 10).files.read
        assert read.count == 5 and read.time < trace.ts

    def test_mkdir_links_append_and_exclusive_create(self) -> None:
        trace = started(10)
        trace.add(10, "mkdir", 'dfd=-100 path="/tmp/d" mode=0x1c0')
        trace.add(10, "symlink", 'target="../x" dfd=-100 path="/tmp/l"')
        trace.add(10, "link", 'olddfd=-100 old="/tmp/a" newdfd=-100 new="b"')
        trace.open(10, "/var/log/x", flags=0x8401)
        trace.open(10, "/tmp/new", flags=0x80C1, mode=0x8180)
        files = behaviour(trace, 10).files
        assert [(m.path, m.mode) for m in files.mkdir] == [("/tmp/d", "0700")]
        assert [(lk.kind, lk.target, lk.path) for lk in files.links] == [
            ("symlink", "../x", "/tmp/l"),
            ("link", "/tmp/a", "/b"),
        ]
        assert [w.flags for w in files.written] == ["O_WRONLY|O_APPEND", "O_WRONLY|O_CREAT|O_EXCL"]
        (created,) = files.created
        assert (created.path, created.mode, created.exclusive) == ("/tmp/new", "0600", True)


class TestNetwork:
    def test_ipv6_connect(self) -> None:
        hi, lo = wire_ipv6("2001:db8::1")
        trace = started(10)
        trace.add(
            10, "connect", f"fam=10 port={wire_port(443)} addr=0 a6hi={hi:#x} a6lo={lo:#x} len=28"
        )
        trace.add(10, "connect_r", "ret=0")
        (conn,) = behaviour(trace, 10).network.connections
        assert (conn.family, conn.dst_ip, conn.dst_port, conn.result) == (
            "ipv6",
            "2001:db8::1",
            443,
            "ok",
        )

    def test_socket_type_sets_protocol(self) -> None:
        trace = started(10).syscall(10, 41, [2, 0x80002, 0], ret=3)
        trace.enter(10, 42, [3])
        trace.add(
            10,
            "connect",
            f"fam=2 port={wire_port(53)} addr={wire_ipv4('9.9.9.9')} a6hi=0x0 a6lo=0x0 len=16",
        )
        trace.add(10, "connect_r", "ret=0").leave(10, 42, 0)
        (conn,) = behaviour(trace, 10).network.connections
        assert (conn.proto, conn.dst_ip, conn.dst_port) == ("udp", "9.9.9.9", 53)

    def test_udp_send_and_dns(self) -> None:
        trace = started(10)
        for _ in range(2):
            trace.enter(10, 44, [3]).add(
                10,
                "udpsend",
                f"daddr=0 dport=0 fam=2 port={wire_port(53)} "
                f"addr={wire_ipv4('8.8.8.8')} a6hi=0x0 a6lo=0x0 size=40",
            ).leave(10, 44, 40)
        # A connected socket passes no address: the destination comes from the socket.
        trace.add(
            10,
            "udpsend",
            f"daddr={wire_ipv4('192.0.2.9')} dport={wire_port(9999)} "
            "fam=(fault) port=(fault) addr=(fault) a6hi=(fault) "
            "a6lo=(fault) size=7",
        )
        trace.add(10, "udpsend", "daddr=0 dport=0 fam=0 port=0 addr=0 a6hi=0x0 a6lo=0x0 size=1")
        result = behaviour(trace, 10)
        udp = result.network.udp
        assert [(u.dst_ip, u.dst_port, u.count, u.bytes) for u in udp] == [
            ("8.8.8.8", 53, 2, 80),
            ("192.0.2.9", 9999, 1, 7),
        ]
        (dns,) = result.network.dns
        assert (dns.server, dns.port, dns.count, dns.query) == ("8.8.8.8", 53, 2, None)
        assert result.truncated == {"udp_unknown_destination": 1}

    def test_bind(self) -> None:
        trace = started(10).syscall(10, 41, [10, 1, 0], ret=4).enter(10, 49, [4])
        trace.add(10, "bind6", f"fam=10 port={wire_port(8080)} addr=0 a6hi=0x0 a6lo=0x0 len=28")
        trace.leave(10, 49, 0)
        (bind,) = behaviour(trace, 10).network.binds
        assert (bind.proto, bind.family, bind.ip, bind.port, bind.result) == (
            "tcp",
            "ipv6",
            "::",
            8080,
            "ok",
        )

    def test_other_families_are_counted_not_reported(self) -> None:
        trace = started(10).add(10, "connect", "fam=16 port=0 addr=0 a6hi=0x0 a6lo=0x0 len=12")
        result = behaviour(trace, 10)
        assert result.network.connections == []
        assert result.truncated == {"connect_other_family": 1}


class TestSockaddr:
    def test_absurd_values_are_masked(self) -> None:
        assert decode_inet(2, -1, 2**80 + wire_ipv4("10.0.0.1"), 0, 0) == (
            "ipv4",
            "10.0.0.1",
            65535,
        )
        assert decode_inet(99, 0, 0, 0, 0) is None

    def test_unix_paths(self) -> None:
        def fields(path: bytes) -> tuple[int, int, int, int]:
            raw = path.ljust(22, b"\0")[:22]
            return (
                int.from_bytes(raw[0:2], "little"),
                int.from_bytes(raw[2:6], "little"),
                int.from_bytes(raw[6:14], "little"),
                int.from_bytes(raw[14:22], "little"),
            )

        assert decode_unix(*fields(b"/run/x.sock"), 110) == ("/run/x.sock", False)
        assert decode_unix(*fields(b"/a/very/long/socket/path/name"), 110) == (
            "/a/very/long/socket/pa",
            True,
        )
        assert decode_unix(*fields(b"\0abstract"), 11) == ("@abstract", False)
