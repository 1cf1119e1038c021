# Sourced by start.sh and test.sh: installs the npm dependencies on a fresh clone (and again whenever
# package-lock.json changed since the last install). The `node` devDependency then provides Node 24.
if [ ! -x node_modules/.bin/node ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH"
