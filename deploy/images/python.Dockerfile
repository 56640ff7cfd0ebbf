# berth-python: Berth and its dependencies in a venv, installed from the wheel bundle with --no-index
# (no package index is needed, or reachable, at build time). Build context: the bundle's wheels/ directory.
ARG VERSION
FROM berth-base:${VERSION}
COPY . /opt/berth/wheels
# One RUN: with the vfs storage driver every layer is a full copy of the tree.
RUN python3 -m venv /opt/berth/venv \
 && /opt/berth/venv/bin/pip install --quiet --no-index --no-cache-dir --find-links /opt/berth/wheels berth \
 && rm -rf /opt/berth/wheels \
 && /opt/berth/venv/bin/python -m compileall -q /opt/berth/venv/lib >/dev/null
ENV PATH=/opt/berth/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    BERTH_CONFIG=/etc/berth/berth.yml \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER berth
WORKDIR /var/lib/berth
