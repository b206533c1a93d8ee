#!/bin/sh
# Builds the rings of a one-node, one-device, one-replica Swift (the object store of a small
# AASEE install) in /etc/swift, for the servers of account/container/object-server.conf.
# Run once as root after `apt-get install swift swift-proxy swift-account swift-container
# swift-object memcached`; then set swift_hash_path_prefix/suffix in /etc/swift/swift.conf to
# two random secrets (never change them afterwards) and start the services:
#   systemctl enable --now memcached swift-proxy swift-account swift-container swift-object
set -eu
cd /etc/swift
install -d -o swift -g swift /srv/node/d1
for ring in account:6202 container:6201 object:6200; do
    name=${ring%%:*}
    port=${ring##*:}
    rm -f "$name.builder" "$name.ring.gz"
    swift-ring-builder "$name.builder" create 0 1 1
    swift-ring-builder "$name.builder" add "r1z1-127.0.0.1:$port/d1" 100
    swift-ring-builder "$name.builder" rebalance
done
chown swift:swift /etc/swift/*.ring.gz /etc/swift/*.builder
