# berth-redis: Redis 7 from Debian, append-only file in its volume; reachable only on the compose network.
ARG VERSION
FROM berth-base:${VERSION}
USER redis
EXPOSE 6379
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "redis-cli ping | grep -q PONG"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/var/lib/redis", \
     "--appendonly", "yes", "--save", ""]
