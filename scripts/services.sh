#!/usr/bin/env bash
# services.sh installs (when missing) and starts the Docker engine that
# docker-forge's tests drive, with the registry, the static busybox the test
# images are made of, and the Chromium the dashboard's browser tests use. It
# is idempotent: a daemon that already answers is left alone. The registry is
# not started here: each end-to-end test runs its own docker-registry on a
# free loopback port, with its notifications pointed at that test's forge
# listener.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# The tests build their images from a static busybox (sh, httpd, sleep).
bb="$(ldd /bin/busybox 2>&1 || true)"
case "$bb" in *"not a dynamic executable"*) ;; *) need+=(busybox-static) ;; esac
# The many-engines tests run a second dockerd in a network namespace (ip netns).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The dashboard's browser tests drive Debian's Chromium, headless.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The ACME tests get certificates from Debian's pebble, a test ACME CA, on loopback.
command -v pebble >/dev/null 2>&1 || need+=(pebble)
if [ "${#need[@]}" -gt 0 ]; then
  echo "services: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "services: starting dockerd"
  mkdir -p /var/log
  setsid dockerd </dev/null >/var/log/forge-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "services: dockerd did not start"; tail -40 /var/log/forge-dockerd.log; exit 1; }
fi
echo "services: docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
