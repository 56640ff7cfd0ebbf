# berth-registry: the OCI distribution API (/v2/ behind the proxy).
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 5000
# /v2/ answers 401 with the Bearer challenge to a caller without a token: the process is up and serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "http", "http://127.0.0.1:5000/v2/", "200", "401"]
CMD ["python", "-m", "services.registry"]
