# berth-jobservice: the job worker (GC, audit log purge, schedules): PostgreSQL, Redis and the blob volume.
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 5003
# /healthz answers once PostgreSQL and Redis are open.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "http", "http://127.0.0.1:5003/healthz", "200"]
CMD ["python", "-m", "services.jobservice"]
