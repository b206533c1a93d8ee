"""Every exit code of the ``aasee`` command, in one place.

0   the work was done (an analysis ran, whatever the sample did)
1   the server could not be reached (client commands)
2   bad input: a missing or unreadable sample, an option out of range, an image or guest
    that does not exist, a sample no guest can run, a request the server refused
3   the sandbox or the service failed (nothing trustworthy was produced), or a task failed
4   the analysis ran but the sample could not be executed in the guest (the report says why)
130 interrupted (Ctrl-C or SIGTERM); VMs and their files were cleaned up
"""

from __future__ import annotations

OK = 0
UNREACHABLE = 1
BAD_INPUT = 2
FAILED = 3
NOT_EXECUTED = 4
INTERRUPTED = 130
