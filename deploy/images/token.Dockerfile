# berth-token: the Docker token service (/service/token behind the proxy).
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "http", "http://127.0.0.1:5001/healthz", "200"]
CMD ["python", "-m", "services.token"]
