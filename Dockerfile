# Fila broker image: fila-server on 0.0.0.0:5555, data in the /data volume.
#
#   docker build -t fila .
#   docker run -p 5555:5555 -v fila-data:/data fila
#
# Not built in this project's CI (its machines have no container runtime); see
# docs/operations.md, "Install", before relying on it.
FROM python:3.11-slim

# Wheels exist for every dependency on amd64 and arm64: no compiler in the image.
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY fila ./fila
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin fila \
    && mkdir -p /data /etc/fila \
    && chown fila /data \
    && printf '[server]\nlisten_addr = "0.0.0.0:5555"\n' > /etc/fila/fila.toml

USER fila
WORKDIR /data
ENV FILA_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 5555

# The gRPC health service, asked the way a load balancer would (SERVING = healthy).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["fila-server", "--check"]

ENTRYPOINT ["fila-server"]
