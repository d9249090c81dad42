# A stand-in for the registry's postgres:15, made from Debian's postgresql-15
# on the local debian:12-slim, for docker/compose.yaml under
# tests/integration/test_container_run.py. It has what compose.yaml uses of
# the official image: POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD(_FILE),
# the data in the volume at /var/lib/postgresql/data, pg_isready on PATH,
# port 5432 on every address with password authentication.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data \
 && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
