"""Bundled hooks: fake internet, console log, pcap, agent channel, clock, tracer, sample
runner, timeout, early end, host-side disk diff.

``DEFAULT_HOOKS`` is the order an analysis loads them in; order matters where two hooks
handle one event: the capture starts before the agent announces itself, the clock is set and
the tracer armed before the sample runner starts the sample.

``EVIDENCE_HOOKS`` are loaded only when a hooks configuration names them, each with the events
it acts on: memory dumps (``memory_dump.MemoryDumpHook``) and screenshots of a guest with a
display (``screenshots.ScreenshotHook``); the console log hook, loaded by default, takes its
events from there too.
"""

DEFAULT_HOOKS = (
    "aasee.hooks.network.FakeNetHook",
    "aasee.hooks.console.ConsoleLogHook",
    "aasee.hooks.pcap.PcapHook",
    "aasee.hooks.agent.AgentHook",
    "aasee.hooks.clock.ClockHook",
    "aasee.hooks.tracer.TracerHook",
    "aasee.hooks.wine.WineRegistryHook",
    "aasee.hooks.sample.SampleRunnerHook",
    "aasee.hooks.timeout.TimeoutHook",
    "aasee.hooks.early_end.EarlyEndHook",
    "aasee.hooks.disk_diff.DiskDiffHook",
)

OPTIONAL_HOOKS = frozenset(
    {
        "aasee.hooks.console.ConsoleLogHook",
        "aasee.hooks.disk_diff.DiskDiffHook",
    }
)
"""Default hooks whose evidence some sandbox kinds cannot give (a container has no serial
console and no disk image): skipped there, with the reason kept in the run's record."""

EVIDENCE_HOOKS = (
    "aasee.hooks.memory_dump.MemoryDumpHook",
    "aasee.hooks.screenshots.ScreenshotHook",
)
