"""Windows-shaped evidence of a PE sample run by Wine: Windows paths, image names, registry.

``plugin.WindowsPlugin`` builds the report's ``windows`` section (``model.WindowsEvidence``)
from the behaviour model, the host-side disk diff and the Wine hook's hive copies
(``registry`` parses and diffs Wine's hive files).
"""
