# berth-db: PostgreSQL 15 from Debian; initdb into the volume at first start (db-entrypoint.sh).
ARG VERSION
FROM berth-base:${VERSION}
COPY db-entrypoint.sh /usr/local/bin/berth-db-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
# SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client to leave).
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"]
ENTRYPOINT ["/usr/local/bin/berth-db-entrypoint"]
