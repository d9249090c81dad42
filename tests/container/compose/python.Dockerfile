# A stand-in for the registry's python:3, made from Debian's python3 on the
# local debian:12-slim, for docker/compose.yaml's simulator (tests/pinsim/
# needs the standard library only).
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
