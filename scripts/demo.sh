#!/usr/bin/env bash
# make demo: `make run` (serve --demo: seeds the demo account, prints its key, lines and a one-time console
# sign-in link) plus the simulators — a race, a garage and a host stand — driving the real APIs, so the
# first screen a newcomer opens is moving. Ctrl-C stops both.
# usage: scripts/demo.sh BIN DB HTTP [COAP]
set -euo pipefail
bin=$1 db=$2 http=$3 coap=${4:-127.0.0.1:5683}
"$bin/sessionhub" serve --demo --db "$db" --http "$http" --coap "$coap" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do  # wait (at most 20 s) until the server answers
  if curl -fsS -o /dev/null "http://$http/console/signin" 2>/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then echo "make demo: the server did not start" >&2; exit 1; fi
  sleep 0.2
done
key=$("$bin/sessionhub" keys create --account demo --access READ_WRITE --alias "simulate (make demo)" --db "$db")
location=$("$bin/sessionhub" locations list --account demo --db "$db" | awk -F'\t' '$2 == "Demo garage" { print $1; exit }')
echo "make demo: simulators running (a race, cars at Demo garage, parties at the host stand); Ctrl-C stops"
"$bin/sessionhub" simulate all --url "http://$http" --coap "$coap" --key "$key" --location "${location:-1}" \
  --rate 4 --duration "${DEMO_SECONDS:-3600}" --seed "${DEMO_SEED:-1}"
