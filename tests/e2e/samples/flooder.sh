#!/bin/sh
# A busy loop that makes millions of trace events, and an act hidden behind it.
yes > /dev/null &
FLOOD=$!
sleep 3
echo "* * * * * root /tmp/x" > /etc/cron.d/after-flood
sleep 1
kill $FLOOD
echo flood-done
