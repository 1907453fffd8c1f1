# forecaster: API, dashboard and scheduler in one image.
# Build: docker build -t forecaster .   Run: docker run -p 8000:8000 -e FORECASTER_DATABASE_URL=... forecaster
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip
# The pinned dependencies first, in their own layer: it takes minutes and is rebuilt only when
# pyproject.toml or constraints.txt change, not on every change to the code.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/venv/bin/pip install -c constraints.txt -r requirements.txt
COPY README.md LICENSE ./
COPY forecaster ./forecaster
COPY models ./models
COPY api ./api
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --no-deps -c constraints.txt . \
 && /opt/venv/bin/pip check

FROM python:3.11-slim-bookworm
# libgomp is LightGBM's OpenMP runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 forecaster
COPY --from=build /opt/venv /opt/venv
# MPLCONFIGDIR: Prophet imports matplotlib, which caches its font list in $HOME unless told
# otherwise; /tmp stays writable under a read-only root file system (deploy/ mounts one there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    FORECASTER_HOST=0.0.0.0 \
    FORECASTER_PORT=8000 \
    FORECASTER_DATABASE_URL=sqlite:////data/forecaster.db
RUN mkdir /data && chown forecaster /data
USER forecaster
WORKDIR /home/forecaster
VOLUME ["/data"]
EXPOSE 8000
# serve's /healthz on the port it listens on; a `worker` container serves nothing, so run it
# with --no-healthcheck (Kubernetes ignores this and uses the probes in deploy/)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('FORECASTER_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]
ENTRYPOINT ["forecaster"]
CMD ["serve"]
