#!/bin/bash
# Starts memcached and Swift's four servers in one container (no init system); exits when one
# of them does, so the container restarts as a whole.
set -eu
install -d -o swift -g swift /srv/node/d1 /var/cache/swift /run/swift
# The hash path secrets: from the environment (set them once, never change them).
sed -i "s/^swift_hash_path_suffix = .*/swift_hash_path_suffix = ${SWIFT_HASH_SUFFIX:?}/; \
        s/^swift_hash_path_prefix = .*/swift_hash_path_prefix = ${SWIFT_HASH_PREFIX:?}/" \
    /etc/swift/swift.conf
# The S3 secret of the tempauth user, from the environment too.
sed -i "s/^user_aasee_aasee = .*/user_aasee_aasee = ${SWIFT_S3_SECRET:?} .admin/" \
    /etc/swift/proxy-server.conf
memcached -u memcache -l 127.0.0.1 -p 11211 -U 0 &
for server in account container object proxy; do
    "swift-$server-server" "/etc/swift/$server-server.conf" &
done
wait -n
