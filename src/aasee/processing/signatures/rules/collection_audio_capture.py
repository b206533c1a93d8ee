"""Audio capture: the microphone recorded."""

from __future__ import annotations

from collections.abc import Iterator

from ..base import Signature
from ..facts import command_summary, file_summary
from ..models import Evidence
from ..query import ReportIndex

RECORDERS = ("arecord", "parecord", "parec", "pw-record", "rec", "sox", "jack_capture")
NOT_RECORDING = frozenset({"-l", "--list-devices", "-L", "--list-pcms", "-h", "--help",
                           "--version"})  # fmt: skip
AUDIO_INPUTS = frozenset({"alsa", "pulse", "oss", "jack", "pipewire"})


class AudioCapture(Signature):
    id = "collection_audio_capture"
    name = "Records audio"
    description = (
        "Runs arecord, parecord, pw-record, rec/sox from the default device, or ffmpeg with "
        "an ALSA/PulseAudio/OSS input, or opens a capture device (/dev/snd/pcm*c, "
        "/dev/dsp): the room listened to."
    )
    severity = "medium"
    category = "collection"
    techniques = ("T1123",)

    def match(self, ctx: ReportIndex) -> Iterator[Evidence]:
        for run in ctx.commands(*RECORDERS):
            args = run.item.args
            if run.item.name == "sox" and "-d" not in args:
                continue
            if not NOT_RECORDING & set(args):
                yield run.evidence(command_summary(run))
        for run in ctx.commands("ffmpeg", "avconv"):
            args = run.item.args
            formats = [b for a, b in zip(args, args[1:], strict=False) if a == "-f"]
            if AUDIO_INPUTS & set(formats) and "-i" in args:
                yield run.evidence(command_summary(run))
        for found in ctx.files("read", ("/dev/snd/pcmC*c", "/dev/dsp*", "/dev/audio*")):
            yield found.evidence(file_summary(found, "opened"))
