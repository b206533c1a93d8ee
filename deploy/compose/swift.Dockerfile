# A one-node OpenStack Swift with s3api + tempauth (Debian 12's packages), the S3 server of
# compose.yaml, configured by deploy/swift/. Build from the repository root.
FROM debian:bookworm

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        swift swift-proxy swift-account swift-container swift-object python3-swift memcached \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/swift/*.conf /etc/swift/
COPY deploy/swift/make-rings.sh /usr/local/sbin/make-rings.sh
COPY deploy/compose/swift-start.sh /usr/local/sbin/swift-start.sh
RUN /usr/local/sbin/make-rings.sh
VOLUME ["/srv/node"]
EXPOSE 8080
CMD ["/usr/local/sbin/swift-start.sh"]
