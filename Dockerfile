# The inbox app and worker image: `inbox serve` by default, `inbox worker` or `inbox migrate`
# by overriding the command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /tmp/src
RUN pip install /tmp/src && rm -rf /tmp/src

# Run as an unprivileged user; the data directory (attachments, sandbox log, generated secret
# key when not in production) belongs to it, so a named volume mounted there is writable.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/inbox --shell /usr/sbin/nologin inbox \
    && mkdir -p /var/lib/inbox \
    && chown inbox:inbox /var/lib/inbox
USER inbox
WORKDIR /var/lib/inbox
ENV INBOX_DATA_DIR=/var/lib/inbox

EXPOSE 8000
CMD ["inbox", "serve", "--host", "0.0.0.0"]
