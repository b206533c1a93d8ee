"""Bundled hooks: fake internet, sample runner, tracer, host-side pcap, console log, timeout.

``DEFAULT_HOOKS`` is the order an analysis loads them in; order matters where two hooks
handle one event (the tracer must be armed before the sample runner starts the sample).
"""

DEFAULT_HOOKS = (
    "aasee.hooks.network.FakeNetHook",
    "aasee.hooks.console.ConsoleLogHook",
    "aasee.hooks.pcap.PcapHook",
    "aasee.hooks.tracer.TracerHook",
    "aasee.hooks.sample.SampleRunnerHook",
    "aasee.hooks.timeout.TimeoutHook",
)
