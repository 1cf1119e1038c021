#!/usr/bin/env bash
# `npm test`: installs what is missing (npm dependencies; nginx for the gateway tests; kubectl for the
# manifest checks; promtool for the alert rules; Chromium for the web client's test), then runs every ava
# test of every package against the real Postgres, Redis, NATS and S3 emulator. Arguments go to ava.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-deps.sh
# need <command> <Debian package> <what for>: installs the package when the command is missing.
need() {
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then return; fi
  if [ "$(id -u)" = 0 ]; then
    echo "installing $2 ($3) from Debian's packages…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null
  else
    echo "$1 is missing ($3): sudo apt-get install -y $2" >&2
    exit 1
  fi
}
need nginx nginx-light "the gateway"
# The gateway verifies signed media URLs with njs: Debian's module, loaded by deploy/nginx/nginx.conf.template.
if [ ! -f /usr/lib/nginx/modules/ngx_http_js_module.so ] && [ ! -f /etc/nginx/modules/ngx_http_js_module.so ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing libnginx-mod-http-js (njs for the gateway) from Debian's packages…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-http-js) >/dev/null
  else
    echo "the njs module for nginx is missing (signed media URLs): sudo apt-get install -y libnginx-mod-http-js" >&2
    exit 1
  fi
fi
need kubectl kubectl "rendering the Kubernetes manifests"
# promtool checks and unit-tests the alert rules (deploy/monitoring); Debian ships it in prometheus.
need promtool prometheus "alert rule tests"
# The web client's test drives Debian's Chromium with playwright-core (nothing downloads a browser).
need chromium chromium "the web client's browser test"
exec ava "$@"
