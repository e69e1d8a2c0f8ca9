# The cityhub image: `cityhub migrate` and `cityhub ingest` of docker-compose.yml run
# from it (the entry point is the `cityhub` command; the service gives the subcommand).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    CITYHUB_STATE_DIR=/var/lib/cityhub

WORKDIR /src
# Only what the package needs, so the layer is rebuilt when the code changes and not
# for local virtualenvs or caches. README.m[d] copies the readme when there is one.
COPY pyproject.toml constraints.txt README.m[d] ./
COPY hub ./hub
COPY ingest ./ingest
COPY analytics ./analytics
COPY ops_console ./ops_console
COPY devices ./devices
# The same pinned versions as `make run` and the tests.
RUN pip install -c constraints.txt . \
    && rm -rf /src

# A fixed uid: the operator makes the mounted pseudonym key file readable by it
# (deploy/README.md).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cityhub \
    && install -d -o cityhub -g cityhub -m 0700 /var/lib/cityhub
USER 10001
WORKDIR /var/lib/cityhub

ENTRYPOINT ["cityhub"]
CMD ["--help"]
