#!/usr/bin/env bash
# A real single-node Kubernetes (1.20.2 on containerd, loopback only) for the Kubernetes tests,
# from ../shared/reference/kubernetes/k8s-single-node.sh (see ../shared/reference/kubernetes.md
# for what it is and why each setting).
#
# usage: kubernetes.sh start DIR   the last stdout line is "kubeconfig=PATH"
#        kubernetes.sh stop DIR    undo what start did (nothing when it found a cluster running)
#
# - One cluster per machine: the reference script's API server, etcd, containerd socket and node
#   address are fixed. When a cluster of that script already runs (a developer's, another CI
#   run's), start uses it (its admin kubeconfig) and stop leaves it alone; otherwise start brings
#   one up in DIR and stop takes it down and wipes its state.
# - Warm starts: the binaries (~8 s to unpack) and the pause and Node image tars (~15 s to make)
#   are kept in WEFT_CI_CACHE (default ~/.cache/weft-ci/kubernetes) and linked into DIR, so `up`
#   is ~9 s after the first run (~30 s cold).
# - Images reach the cluster through the loopback registry of .ci/containers.sh: the CRI plugin
#   of containerd 1.6 speaks plain HTTP to registries on localhost/127.0.0.1 without any
#   configuration (checked: a Pod of 127.0.0.1:PORT/repo:tag with imagePullPolicy Always runs),
#   so the tests push to WEFT_TEST_REGISTRY and the Pods pull from it by digest.
# needs: the reference script and its cache beside this checkout (../shared), root, podman, gcc.
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
D=$(realpath -m "$2")
here=$(cd "$(dirname "$0")/.." && pwd)
REF=${WEFT_CI_K8S_SCRIPT:-$here/../shared/reference/kubernetes/k8s-single-node.sh}
CACHE=${WEFT_CI_CACHE:-${HOME:-/root}/.cache/weft-ci}/kubernetes

api_up() { curl -sk -o /dev/null -m 3 https://127.0.0.1:6443/healthz -w '%{http_code}' 2>/dev/null | grep -qE '^(200|401|403)$'; }

# The directory of the reference cluster now running, from its API server's command line.
running_dir() {
  local pid
  for pid in $(pgrep -x kube-apiserver 2>/dev/null); do
    tr '\0' '\n' < "/proc/$pid/cmdline" | sed -n 's#^--token-auth-file=\(.*\)/etc/tokens.csv$#\1#p' | head -1
    return
  done
}

stop() {
  if [ -f "$D/started" ]; then
    K8S_DIR=$D bash "$REF" down >/dev/null
    K8S_DIR=$D bash "$REF" purge >/dev/null || true
    rm -f "$D/started"
  fi
  rm -f "$D/adopted"
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) usage ;;
esac
mkdir -p "$D"

if api_up; then
  K=$(running_dir)
  if [ -n "$K" ] && [ -f "$K/etc/kubeconfig-admin" ]; then
    echo "$K" > "$D/adopted"
    echo "k8s: using the cluster already running from $K" >&2
    echo "kubeconfig=$K/etc/kubeconfig-admin"
    exit 0
  fi
  echo "k8s: something already answers on 127.0.0.1:6443 and it is not the reference cluster; set WEFT_TEST_KUBECONFIG to use it" >&2
  exit 1
fi

[ -f "$REF" ] || { echo "k8s: no reference script at $REF (set WEFT_CI_K8S_SCRIPT)" >&2; exit 1; }
# Binaries and image tars from the cache (made once per machine), so that `up` starts warm.
if [ ! -x "$CACHE/bin/kube-apiserver" ]; then
  mkdir -p "$CACHE"
  K8S_DIR=$CACHE bash "$REF" build >&2
fi
ln -sfn "$CACHE/bin" "$D/bin"
mkdir -p "$CACHE/img"
ln -sfn "$CACHE/img" "$D/img"
touch "$D/started"
K8S_DIR=$D bash "$REF" up >&2 || { echo "k8s: the cluster did not come up (logs in $D/log)" >&2; exit 1; }
echo "kubeconfig=$D/etc/kubeconfig-admin"
