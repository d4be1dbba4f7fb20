#!/usr/bin/env bash
# Installs what the tests and benchmarks drive but pip cannot bring: libcoap's coap-client,
# wrk, curl, chromium with its driver, and node's `coap` package (into tests/node). Each is
# installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Debian names the binary coap-client-notls (and -gnutls, -openssl); tests/coap finds either name.
command -v coap-client >/dev/null 2>&1 || command -v coap-client-notls >/dev/null 2>&1 || need_apt+=(libcoap3-bin)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# SSE clients of tests/live: curl -N, and a browser's EventSource in headless Chromium (driven
# through Debian's chromedriver, so nothing is downloaded at test time).
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if ((${#need_apt[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -f tests/node/package.json ] && [ ! -d tests/node/node_modules/coap ]; then
  (cd tests/node && npm ci --silent --no-audit --no-fund)
fi
