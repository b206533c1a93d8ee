"""Remote access software installed or run: remote desktops, shared terminals, VNC
servers."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary
from ..models import Evidence
from ..query import ReportIndex

TOOLS = ("tmate", "anydesk", "teamviewer", "rustdesk", "x11vnc", "vncserver", "tightvncserver",
         "Xvnc", "x0vncserver", "Xtigervnc", "tigervncserver", "meshagent", "dwagent",
         "screenconnect", "splashtop", "atera", "remotely", "zerotier-one", "chrome-remote-desktop",
         "nomachine", "nxserver", "teleconsole", "upterm", "sshx")  # fmt: skip
NOT_RUNNING = frozenset({"-h", "--help", "--version", "-V", "-version"})


class RemoteAccessTools(Signature):
    id = "c2_remote_access_tools"
    name = "Runs remote access software"
    description = (
        "Runs a remote desktop or shared-terminal tool (tmate, AnyDesk, TeamViewer, "
        "RustDesk, MeshAgent, ScreenConnect...) or a VNC server (x11vnc, vncserver): "
        "legitimate software giving someone elsewhere interactive control of the host."
    )
    severity = "medium"
    category = "command-and-control"
    techniques = ("T1219",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*TOOLS):
            if not NOT_RUNNING & set(run.item.args):
                yield run.evidence(command_summary(run))
