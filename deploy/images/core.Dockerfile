# berth-core: the REST API (/api/v2.0), sessions (/c/) and the UI behind the proxy.
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 5002
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "http", "http://127.0.0.1:5002/healthz", "200"]
CMD ["python", "-m", "services.core"]
