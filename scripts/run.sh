#!/usr/bin/env bash
# Starts DICOM Transfer in the foreground: the web server and background workers.
# Ctrl-C stops them all. Called by `make run`, after the virtualenv and DCMTK are in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATA_DIR=${DATA_DIR:-./var}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WORKERS=${WORKERS:-2}
WEB_PROCESSES=${WEB_PROCESSES:-2}
mkdir -p "$DATA_DIR"
export DATA_DIR=$(cd "$DATA_DIR" && pwd)

if [ -z "${SECRET_KEY:-}" ]; then
  # A key of this installation, made once and kept private in DATA_DIR.
  keyfile="$DATA_DIR/secret_key"
  if [ ! -s "$keyfile" ]; then
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$keyfile")
  fi
  SECRET_KEY=$(cat "$keyfile")
  export SECRET_KEY
fi
case "$HOST" in
  0.0.0.0|::) ;;
  *) export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],$HOST} ;;
esac

py=.venv/bin/python
$py manage.py migrate --noinput -v 0
$py manage.py createcachetable
$py manage.py ensure_admin
$py manage.py collectstatic --noinput -v 0

pids=()
stop() {
  trap - INT TERM EXIT
  echo "Stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "Stopped."
}
trap stop INT TERM EXIT

# On PostgreSQL a queued job wakes the workers at once (LISTEN/NOTIFY), so they poll rarely; on
# SQLite they poll every 50 ms.
case "${DATABASE_URL:-}" in
  postgres*) interval=1 ;;
  *) interval=0.05 ;;
esac
for _ in $(seq 1 "$WORKERS"); do
  $py manage.py db_worker --no-reload --interval "$interval" --no-startup-delay -v 0 &
  pids+=($!)
done
.venv/bin/gunicorn dicom_transfer.wsgi:application \
  --bind "$HOST:$PORT" --worker-class gthread --workers "$WEB_PROCESSES" --threads 4 \
  --timeout 600 --graceful-timeout 10 --access-logfile - \
  --access-logformat '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms' &
pids+=($!)
echo "DICOM Transfer is running at http://$HOST:$PORT/ (data in $DATA_DIR). Ctrl-C stops it."
# Stop everything when any process ends.
wait -n "${pids[@]}"
