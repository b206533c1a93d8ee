"""Video capture: the camera recorded."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

GRABBERS = ("fswebcam", "streamer", "uvccapture", "motion", "cheese", "guvcview", "webcamd")
CAMERA_INPUTS = frozenset({"v4l2", "video4linux2"})


class VideoCapture(Signature):
    id = "collection_video_capture"
    name = "Records from a camera"
    description = (
        "Runs fswebcam, streamer or another webcam grabber, ffmpeg with a v4l2 input, "
        "v4l2-ctl streaming, or opens a video device (/dev/video*): pictures or video of "
        "whoever sits at the machine."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1125",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*GRABBERS):
            if not {"-h", "--help", "--version"} & set(run.item.args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ffmpeg", "avconv"):
            args = run.item.args
            formats = [b for a, b in zip(args, args[1:], strict=False) if a == "-f"]
            if CAMERA_INPUTS & set(formats) or any(a.startswith("/dev/video") for a in args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("v4l2-ctl"):
            if any(a.startswith(("--stream-mmap", "--stream-to")) for a in run.item.args):
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/dev/video*",)):
            yield found.evidence(file_summary(found, "opened"))
