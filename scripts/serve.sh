#!/usr/bin/env bash
# serve.sh does everything `docker forge serve` needs on a fresh machine:
# it installs and starts the Docker engine when missing, builds and installs
# the plugin, makes a webhook secret when none is set (kept in the data dir,
# mode 0600), and runs the daemon in the foreground. Extra arguments go to
# `docker forge serve`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/services.sh"
"$here/install.sh"
data="${FORGE_DATA_DIR:-${DOCKER_CONFIG:-$HOME/.docker}/forge}"
if [ -z "${FORGE_WEBHOOK_SECRET:-}" ]; then
  mkdir -p "$data" && chmod 700 "$data"
  if [ ! -s "$data/webhook-secret" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$data/webhook-secret")
    echo "serve.sh: made a webhook secret in $data/webhook-secret"
  fi
  FORGE_WEBHOOK_SECRET="$(cat "$data/webhook-secret")"
  export FORGE_WEBHOOK_SECRET
fi
exec docker forge serve "$@"
