#!/usr/bin/env bash
# `npm start`: installs what is missing, then runs the whole system (see deploy/local/src/main.ts).
set -euo pipefail
cd "$(dirname "$0")/../.."
source deploy/local/ensure-deps.sh
exec node deploy/local/src/main.ts "$@"
