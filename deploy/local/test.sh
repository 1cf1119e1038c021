#!/usr/bin/env bash
# `npm test`: installs what is missing (npm dependencies; nginx for the gateway tests), then runs every
# ava test of every package against the real Postgres, Redis, NATS and S3 emulator. Arguments go to ava.
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-deps.sh
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing nginx-light (the gateway) from Debian's packages…"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light) >/dev/null
  else
    echo "nginx is missing: sudo apt-get install -y nginx-light" >&2
    exit 1
  fi
fi
exec ava "$@"
