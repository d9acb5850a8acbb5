#!/usr/bin/env bash
# install.sh installs docker-forge as a Docker CLI plugin.
#
#   ./install.sh                  for the current user: ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-forge
#   ./install.sh --system         for everyone: /usr/local/lib/docker/cli-plugins/docker-forge,
#                                 plus /usr/local/bin/docker-forge for systemd and scripts
#   ./install.sh --binary PATH    install a binary already built instead of building one
#
# Run in a checkout, it builds the binary from source first (needs Go).
set -euo pipefail

system=0
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --system) system=1 ;;
    --binary) binary="${2:?--binary needs a path}"; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$binary" ]; then
  if [ ! -f "$here/go.mod" ] || [ ! -d "$here/cmd/docker-forge" ]; then
    echo "install.sh: not in a docker-forge checkout; pass --binary PATH" >&2
    exit 2
  fi
  command -v go >/dev/null 2>&1 || export PATH="/usr/local/go/bin:$PATH"
  echo "building docker-forge from source..."
  (cd "$here" && make --no-print-directory build)
  binary="$here/bin/docker-forge"
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable" >&2; exit 2; }

if [ "$system" = 1 ]; then
  dest=/usr/local/lib/docker/cli-plugins
  install -d "$dest"
  install -m 0755 "$binary" "$dest/docker-forge"
  ln -sf "$dest/docker-forge" /usr/local/bin/docker-forge
else
  dest="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  install -d "$dest"
  install -m 0755 "$binary" "$dest/docker-forge"
fi
echo "installed $dest/docker-forge"
if command -v docker >/dev/null 2>&1; then
  docker forge version || echo "install.sh: docker does not see the plugin yet (is $dest the CLI's plugin dir?)" >&2
fi
