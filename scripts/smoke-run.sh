#!/usr/bin/env bash
# Proves the README's first command on this checkout: starts `make run` on a free port with a
# fresh DATA_DIR (the embedded SQLite default), waits for /api/health/ to answer 200, logs in,
# then stops it with SIGINT (as Ctrl-C would) and checks that it stopped within 5 s, printed no
# error line and left nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(16))')
log="$data_dir/run.log"

env -u DATABASE_URL -u DEBUG -u SECRET_KEY DATA_DIR="$data_dir" PORT="$port" HOST=127.0.0.1 \
  ADMIN_USERNAME=smoke ADMIN_PASSWORD="$password" setsid make run >"$log" 2>&1 &
pid=$!
cleanup() { kill -TERM -- "-$pid" 2>/dev/null || true; rm -rf "$data_dir"; }
trap cleanup EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 1 180); do
  code=$(curl -s -o "$data_dir/health.json" -w '%{http_code}' "$base/api/health/" || true)
  [ "$code" = 200 ] && break
  kill -0 "$pid" 2>/dev/null || { echo "make run exited early:"; cat "$log"; exit 1; }
  sleep 1
done
if [ "$code" != 200 ]; then
  echo "smoke: /api/health/ answered $code"; cat "$data_dir/health.json" || true; cat "$log"; exit 1
fi
echo "smoke: health 200: $(cat "$data_dir/health.json")"

login=$(curl -s -w '\n%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"username\": \"smoke\", \"password\": \"$password\"}" "$base/api/auth/login/")
[ "$(tail -n1 <<<"$login")" = 200 ] || { echo "smoke: login failed: $login"; cat "$log"; exit 1; }
grep -q '"access"' <<<"$login" || { echo "smoke: no access token"; exit 1; }
echo "smoke: login 200"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/")" != 500 ] || { echo "smoke: / answered 500"; exit 1; }

# Ctrl-C reaches the whole foreground process group, as a terminal sends it.
started=$(date +%s%N)
kill -INT -- "-$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "smoke: make run did not stop on Ctrl-C within 10 s"; cat "$log"; exit 1; fi
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
if [ "$elapsed_ms" -ge 5000 ]; then
  echo "smoke: make run took ${elapsed_ms} ms to stop on Ctrl-C (limit 5000 ms)"; cat "$log"; exit 1
fi
if pgrep -f "$data_dir" >/dev/null || curl -s -o /dev/null "$base/api/health/"; then
  echo "smoke: something still runs or answers after Ctrl-C"; exit 1
fi
if grep -E 'ERROR|CRITICAL|Traceback' "$log"; then
  echo "smoke: make run printed the error lines above"; cat "$log"; exit 1
fi
if grep -q "already exists" "$log"; then echo "smoke: noise on start:"; cat "$log"; exit 1; fi
echo "smoke: make run stopped cleanly on Ctrl-C in ${elapsed_ms} ms; smoke passed"
