# berth-log: the syslog collector every container's logs go to (Docker's syslog logging driver).
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 1514 1514/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "tcp", "127.0.0.1:1514"]
CMD ["python", "-m", "services.log"]
