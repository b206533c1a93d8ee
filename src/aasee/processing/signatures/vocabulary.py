"""Names rules share: which programs are package managers, process listers, tree walkers,
text viewers, browsers, shells and interpreters; where homes live."""

from __future__ import annotations

__all__ = [
    "BROWSERS",
    "FETCHER_NAMES",
    "HOME_DIRS",
    "INTERPRETERS",
    "PACKAGE_MANAGERS",
    "PROCESS_TOOLS",
    "SHELL_NAMES",
    "TEXT_TOOLS",
    "TRAVERSERS",
]

HOME_DIRS = ("/root/", "/home/")
SHELL_NAMES = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "yash", "posh"})
INTERPRETERS = ("python", "perl", "ruby", "php", "node", "lua", "tclsh")
"""Name prefixes of scripting language interpreters (``python3.11`` starts with ``python``)."""
PACKAGE_MANAGERS = frozenset(
    {"apt", "apt-get", "aptitude", "dnf", "yum", "microdnf", "zypper", "pacman", "apk", "snap",
     "snapd", "flatpak", "unattended-upgrade", "unattended-upgr", "packagekitd"}
)  # fmt: skip
"""Programs that install packages from repositories (their scripts write system files)."""
PROCESS_TOOLS = frozenset(
    {"ps", "pgrep", "pkill", "pidof", "top", "htop", "atop", "btop", "pstree", "killall", "w",
     "lsof", "fuser", "pmap", "procs", "glances", "free", "vmstat", "uptime", "pwdx"}
)  # fmt: skip
"""Programs that read every process's /proc entries as their job."""
TRAVERSERS = frozenset(
    {"find", "du", "tar", "rsync", "cp", "updatedb", "updatedb.mlocate", "updatedb.plocate",
     "locate", "tree", "grep", "egrep", "fgrep", "rg", "ag", "chmod", "chown", "chgrp", "rm",
     "cpio", "zip", "7z", "7za", "diff", "md5sum", "sha256sum", "sha1sum", "file", "xargs",
     "rkhunter", "chkrootkit", "aide", "clamscan", "debsums"}
)  # fmt: skip
"""Programs that walk whole directory trees: what they open is not a targeted look."""
TEXT_TOOLS = frozenset(
    {"cat", "tac", "less", "more", "most", "head", "tail", "grep", "egrep", "fgrep", "rg",
     "awk", "gawk", "mawk", "nawk", "cut", "sed", "strings", "xxd", "od", "hexdump", "nl",
     "sort", "uniq", "wc", "vi", "vim", "view", "nano", "ed", "base64", "cp", "dd", "tee",
     "column", "paste", "tr", "diff", "cmp", "readlink", "python", "python3", "perl"}
)  # fmt: skip
"""Programs a person or script uses to look at (or copy) a file's content."""
BROWSERS = frozenset(
    {"firefox", "firefox-esr", "firefox-bin", "chrome", "google-chrome", "chromium",
     "chromium-browser", "brave", "brave-browser", "msedge", "microsoft-edge", "opera",
     "vivaldi", "vivaldi-bin"}
)  # fmt: skip
FETCHER_NAMES = frozenset(
    {"curl", "wget", "fetch", "tftp", "ftpget", "lwp-download", "aria2c", "nc", "ncat",
     "netcat", "socat", "telnet", "GET", "lwp-request"}
)  # fmt: skip
"""Programs that fetch data from the network."""
