# forecaster: API, dashboard and scheduler in one image.
# Build: docker build -t forecaster .   Run: docker run -p 8000:8000 -e FORECASTER_DATABASE_URL=... forecaster
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY forecaster ./forecaster
COPY models ./models
COPY api ./api
COPY migrations ./migrations
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim-bookworm
# libgomp is LightGBM's OpenMP runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 forecaster
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FORECASTER_HOST=0.0.0.0 \
    FORECASTER_PORT=8000 \
    FORECASTER_DATABASE_URL=sqlite:////data/forecaster.db
RUN mkdir /data && chown forecaster /data
USER forecaster
WORKDIR /home/forecaster
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
ENTRYPOINT ["forecaster"]
CMD ["serve"]
