#!/usr/bin/env bash
# Starts DICOM Transfer in the foreground: the web server and background workers, supervised by
# scripts/supervise.py: a process that dies is started again at once and the others keep running;
# Ctrl-C (SIGINT) or SIGTERM stops them all within a few seconds. Called by `make run`, after the
# virtualenv and DCMTK are in place.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything this installation writes (database, imports, logs, key) is for this user alone.
umask 077

export DATA_DIR=${DATA_DIR:-./var}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WORKERS=${WORKERS:-2}
WEB_PROCESSES=${WEB_PROCESSES:-2}
for name in PORT WORKERS WEB_PROCESSES; do
  [[ ${!name} =~ ^[1-9][0-9]*$ ]] || { echo "$name must be a whole number of at least 1, got '${!name}'." >&2; exit 2; }
done
mkdir -p "$DATA_DIR"
export DATA_DIR=$(cd "$DATA_DIR" && pwd)
# An installation made before files were private: take group and other permissions away.
find "$DATA_DIR" -perm /077 -exec chmod go-rwx {} +

if [ -z "${SECRET_KEY:-}" ]; then
  # A key of this installation, made once and kept private in DATA_DIR; the settings read it
  # from there too, so `manage.py` works without exporting anything (make manage ARGS=...).
  keyfile="$DATA_DIR/secret_key"
  if [ ! -s "$keyfile" ]; then
    .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$keyfile"
  fi
fi
case "$HOST" in
  0.0.0.0|::) ;;
  *) export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1,[::1],$HOST} ;;
esac

py=$PWD/.venv/bin/python
$py manage.py migrate --noinput -v 0
$py manage.py createcachetable -v 0
$py manage.py ensure_admin
$py manage.py collectstatic --noinput -v 0

# On PostgreSQL a queued job wakes the workers at once (LISTEN/NOTIFY); on SQLite through a
# datagram socket under DATA_DIR (dicom_api/wakeup.py). Either way idle workers poll rarely.
interval=1
access_log=()
if [ "${ACCESS_LOG:-0}" = 1 ]; then
  # Control characters of the URL are escaped (dicom_transfer/gunicorn_conf.py).
  access_log=(--access-logfile - --access-logformat '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms')
fi
web_command=(
  "$PWD/.venv/bin/gunicorn" dicom_transfer.wsgi:application --config python:dicom_transfer.gunicorn_conf
  --bind "$HOST:$PORT" --workers "$WEB_PROCESSES" "${access_log[@]}"
)
worker_command=("$py" manage.py db_worker --no-reload --interval "$interval" --no-startup-delay -v 0)

args=(--name web -- "${web_command[@]}")
for n in $(seq 1 "$WORKERS"); do
  args+=(--name "worker-$n" -- "${worker_command[@]}")
done
echo "DICOM Transfer is running at http://$HOST:$PORT/ (data in $DATA_DIR). Ctrl-C stops it."
# A process that dies is started again at once; Ctrl-C stops all (scripts/supervise.py).
exec "$py" scripts/supervise.py --stop-timeout 3 "${args[@]}"
