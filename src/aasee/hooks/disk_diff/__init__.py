"""Host-side diff of the run's disk against its base: what changed, even if tracing was blinded.

``hook`` is the :class:`DiskDiffHook` (on ``post_poweroff``); ``collect`` runs one diff from
the qcow2 chain to ``disk_diff.json``; ``images`` asks ``qemu-img`` about the chain; ``views``
makes private raw views of both disks (FUSE exports of throwaway layers, or copies) and
replays their journals; ``ext4`` and ``fs`` read the file systems' fixed records; ``diff``
compares them; ``content`` hashes and keeps small changed files; ``noise`` lists what the
guest itself always changes; ``tools`` runs every external program bounded and unprivileged.
"""

from .collect import CONTENT_DIR, FORMAT_VERSION, RESULT_FILE, disk_diff
from .diff import DiffLimits
from .hook import DiskDiffHook

__all__ = [
    "CONTENT_DIR",
    "FORMAT_VERSION",
    "RESULT_FILE",
    "DiffLimits",
    "DiskDiffHook",
    "disk_diff",
]
