# berth-proxy: nginx in front of registry, token and core; streams blobs from the registry's volume
# (X-Accel-Redirect). Runs as berth, the owner of the blob files; the compose file lets it bind ports
# below 1024 in its own network namespace (net.ipv4.ip_unprivileged_port_start), so no root is needed.
ARG VERSION
FROM berth-python:${VERSION}
EXPOSE 8080
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.deploy.healthcheck", "http", "http://127.0.0.1:8080/"]
# -e stderr: errors before nginx.conf is read (later ones go to the log container over syslog).
CMD ["nginx", "-p", "/var/lib/berth/proxy", "-c", "/etc/berth/nginx.conf", "-e", "stderr"]
