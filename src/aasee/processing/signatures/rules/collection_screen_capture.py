"""Screen capture: screenshots of the desktop or the frame buffer taken."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

SHOOTERS = ("scrot", "gnome-screenshot", "maim", "grim", "spectacle", "xfce4-screenshooter",
            "flameshot", "shutter", "fbgrab", "fbcat", "fbdump", "ksnip", "screencapture",
            "deepin-screenshot")  # fmt: skip
NOT_SHOOTING = frozenset({"-h", "--help", "-v", "--version", "-V"})
GRABBING = frozenset({"x11grab", "kmsgrab", "fbdev", "xcbgrab"})


class ScreenCapture(Signature):
    id = "collection_screen_capture"
    name = "Takes screenshots"
    description = (
        "Runs a screenshot tool (xwd -root, ImageMagick import -window root, scrot, "
        "gnome-screenshot, maim, grim...), ffmpeg grabbing the X display or the frame "
        "buffer, or reads /dev/fb0: what is on the screen is collected."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1113",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*SHOOTERS):
            if not NOT_SHOOTING & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("xwd", "import"):
            args = run.item.args
            if "-root" in args or ("-window" in args and "root" in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ffmpeg", "avconv"):
            args = run.item.args
            formats = [b for a, b in zip(args, args[1:], strict=False) if a == "-f"]
            if GRABBING & set(formats):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/dev/fb[0-9]*",)):
            yield found.evidence(file_summary(found, "read"))
