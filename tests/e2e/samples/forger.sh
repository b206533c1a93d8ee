#!/bin/sh
# Tries to forge trace records: a file name, a program name and an exec'd file name holding
# line breaks followed by text shaped like records of other processes.
FAKE='            sshd-1       (      1) [000] .....     1.000000: open: (do_filp_open+0x0/0x160) dfd=-100 path="/etc/forged-by-sample" flags=0x8241 mode=0x81a4 k=0x12345678'
EXIT='            sshd-1       (      1) [000] .....     1.000001: sched_process_exit: comm=sshd pid=1 prio=120'
NL='
'
touch "/tmp/a${NL}${FAKE}${NL}${EXIT}${NL}z"
cp /bin/touch "/tmp/ev${NL}il"
"/tmp/ev${NL}il" /tmp/written-by-evil
echo forger-done
