# FlickrHub: one image for the API, the workers and the sandbox.
# Build: docker build -t flickrhub .   Run: see compose.yaml.

FROM python:3.11-slim AS build
RUN pip install --no-cache-dir "uv>=0.9,<1"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY flickrhub_core ./flickrhub_core
COPY api ./api
COPY plugins ./plugins
# The same install as the README's, from the built wheel into a venv of its own.
RUN uv build --wheel --out-dir /dist \
 && uv venv /opt/flickrhub \
 && uv pip install --python /opt/flickrhub/bin/python /dist/*.whl

FROM python:3.11-slim
RUN groupadd --system flickrhub \
 && useradd --system --gid flickrhub --home-dir /var/lib/flickrhub --create-home flickrhub
COPY --from=build /opt/flickrhub /opt/flickrhub
ENV PATH="/opt/flickrhub/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    FLICKRHUB_HOST=0.0.0.0 \
    FLICKRHUB_DATA_DIR=/var/lib/flickrhub \
    FLICKRHUB_LOG_FORMAT=json
USER flickrhub
WORKDIR /var/lib/flickrhub
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4).status != 200)"]
ENTRYPOINT ["flickrhub"]
CMD ["api"]
