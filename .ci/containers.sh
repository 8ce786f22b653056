#!/usr/bin/env bash
# A container engine and a registry on loopback for the container tests: Podman's Docker-API
# service on a unix socket, Debian's docker-registry on 127.0.0.1, and a Node 20 base image made
# from this machine's own node (no registry is reachable here). See
# ../shared/reference/containers.md for why runc and the two settings.
#
# usage: containers.sh start DIR   start in DIR; the last stdout line is
#                                  "host=unix://DIR/podman.sock registry=127.0.0.1:PORT base=IMAGE"
#        containers.sh stop DIR    stop what start started (by recorded pids), remove test containers
# needs: apt-get install -y podman runc docker-registry
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
D=$(realpath -m "$2")
BASE=${WEFT_CI_BASE_IMAGE:-localhost/weft-node-base:20}

stop() {
  local name pid
  if [ -f "$D/registry.port" ]; then
    rm -f "/etc/containers/registries.conf.d/50-weft-ci-$(cat "$D/registry.port").conf" "$D/registry.port"
  fi
  for name in registry podman; do
    [ -f "$D/$name.pid" ] || continue
    pid=$(cat "$D/$name.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$D/$name.pid"
  done
  # Containers the tests made carry weft's label; none may outlive the run.
  podman ps -aq --filter label=io.weftflow.run 2>/dev/null | xargs -r podman rm -f >/dev/null 2>&1 || true
  # Images the tests and benchmarks built (runtime images are keyed by weft's content, so every
  # commit makes a new one of ~115 MB): gone with the run, so the disk does not fill up.
  podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null \
    | grep -E '^(localhost/weftflow-runtime|localhost/weft-(test|bench|flows|e2e|ctr)|127\.0\.0\.1:[0-9]+/)' \
    | xargs -r podman rmi -f >/dev/null 2>&1 || true
  podman image prune -f >/dev/null 2>&1 || true
}

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) usage ;;
esac

mkdir -p "$D"
stop

# Podman needs runc (crun refuses hybrid cgroups here) and ulimits it may set.
if [ ! -f /etc/containers/containers.conf ] || ! grep -q 'runtime = "runc"' /etc/containers/containers.conf; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
    > /etc/containers/containers.conf
fi

# The base image: node, its shared libraries, /bin/sh. Made once per machine.
if ! podman image exists "$BASE"; then
  root=$(mktemp -d "$D/base.XXXXXX")
  node_bin=$(command -v node)
  mkdir -p "$root/usr/local/bin" "$root/bin" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  cp "$node_bin" "$root/usr/local/bin/node"
  cp /bin/sh "$root/bin/sh"
  for lib in $( (ldd "$node_bin"; ldd /bin/sh) | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' > "$root/etc/group"
  tar -C "$root" -c . | podman import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$BASE" >/dev/null
  rm -rf "$root"
fi

# The registry is plain HTTP on loopback: Podman must be told so.
port=$(free_port)
mkdir -p /etc/containers/registries.conf.d "$D/registry"
printf '[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$port" \
  > "/etc/containers/registries.conf.d/50-weft-ci-$port.conf"
echo "$port" > "$D/registry.port"
cat > "$D/registry.yml" <<EOF
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $D/registry }, delete: { enabled: true } }
http: { addr: "127.0.0.1:$port" }
EOF
docker-registry serve "$D/registry.yml" > "$D/registry.log" 2>&1 &
echo $! > "$D/registry.pid"

podman system service --time=0 "unix://$D/podman.sock" > "$D/podman.log" 2>&1 &
echo $! > "$D/podman.pid"

for _ in $(seq 1 100); do
  curl -sf --unix-socket "$D/podman.sock" http://d/_ping >/dev/null 2>&1 \
    && curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --unix-socket "$D/podman.sock" http://d/_ping >/dev/null || { echo "podman service did not start: $(tail -5 "$D/podman.log")" >&2; exit 1; }
curl -sf "http://127.0.0.1:$port/v2/" >/dev/null || { echo "registry did not start: $(tail -5 "$D/registry.log")" >&2; exit 1; }
echo "host=unix://$D/podman.sock registry=127.0.0.1:$port base=$BASE"
