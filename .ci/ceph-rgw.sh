#!/usr/bin/env bash
# A throwaway single-node Ceph (mon + memstore osd + radosgw, no cephx) on
# 127.0.0.1, so that S3 tests run against a real S3 server. Adapted from
# dependencies-checked.md §8a (ready in about 12 s there).
#
# usage: ceph-rgw.sh start DIR [PORT]  start in DIR (absent, empty, or left by an earlier
#                                      start) on PORT (default or 0: a free port); the
#                                      last stdout line is
#                                      "endpoint=http://127.0.0.1:PORT ak=TESTAK sk=TESTSK"
#        ceph-rgw.sh stop DIR          stop the daemons by their recorded pids (waits for them)
# needs: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd
# The mon takes another free port (or CEPH_RGW_MON_PORT).
set -euo pipefail

usage() { echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
C=$(realpath -m "$2")
SELF=$(realpath "$0")
ARG_PORT=${3:-}
AK=TESTAK
SK=TESTSK

stop() {
  local d pid
  for d in rgw osd mon; do
    [ -f "$C/$d.pid" ] || continue
    pid=$(cat "$C/$d.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$C/$d.pid"
  done
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) [ $# -le 3 ] || usage ;;
  *) usage ;;
esac

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a port nothing listens on now, other than $1
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    [ "$p" != "${1:-}" ] && ! in_use "$p" && { echo "$p"; return; }
  done
}
PORT=${3:-0}
[ "$PORT" != 0 ] || PORT=$(free_port)
MONPORT=${CEPH_RGW_MON_PORT:-$(free_port "$PORT")}
in_use "$PORT" && { echo "ceph-rgw: port $PORT is already in use" >&2; exit 1; }
for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl; do
  command -v "$tool" >/dev/null || { echo "ceph-rgw: $tool is not installed" >&2; exit 1; }
done
# DIR is wiped below, so refuse anything that is not ours to wipe.
if [ -e "$C" ] && [ -n "$(ls -A "$C")" ] && [ ! -f "$C/ceph.conf" ]; then
  echo "ceph-rgw: $C is not empty and was not made by this script; refusing to wipe it" >&2
  exit 2
fi
stop
rm -rf "$C"
mkdir -p "$C"/{run,log,mon.a,osd.0,rgw}
cd "$C"

fail() {
  echo "ceph-rgw: $1" >&2
  for f in log/*; do
    if [ -s "$f" ]; then echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; fi
  done
  stop
  # Under heavy load a daemon has been seen to die at start; a clean start has worked.
  local tries=${CEPH_RGW_RETRIED:-0}
  if [ "$tries" -lt 2 ]; then
    echo "ceph-rgw: starting again from scratch (attempt $((tries + 2)) of 3)" >&2
    exec env CEPH_RGW_RETRIED=$((tries + 1)) "$SELF" start "$C" ${ARG_PORT:+"$ARG_PORT"}
  fi
  exit 1
}
trap 'fail "start failed (line $LINENO)"' ERR

FSID=$(cat /proc/sys/kernel/random/uuid)
cat > ceph.conf <<CONF
[global]
fsid = $FSID
mon host = v1:127.0.0.1:$MONPORT
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 1073741824
# At start an osd asks the mon to place it in the crush map and set its device class;
# under load it has asked before it had the monmap and died on 'wrong fsid'. So this
# script places osd.0 itself (below, with the ceph CLI) and the osd asks for nothing.
osd crush update on start = false
osd class update on start = false
run dir = $C/run
admin socket = $C/run/\$name.asok
log file = $C/log/\$name.log
keyring = $C/keyring
[mon.a]
mon data = $C/mon.a
[osd.0]
osd data = $C/osd.0
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $C/rgw
CONF
ceph-authtool --create-keyring keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --add a "v1:127.0.0.1:$MONPORT" --fsid "$FSID" monmap >/dev/null
ceph-mon -c ceph.conf --mkfs -i a --monmap monmap --keyring keyring >log/mon-mkfs.out 2>&1
ceph-mon -c ceph.conf -i a -f </dev/null >log/mon.out 2>&1 &
echo $! >mon.pid
timeout 30 ceph -c ceph.conf osd create >/dev/null 2>log/osd-create.out
timeout 30 ceph -c ceph.conf osd crush add osd.0 1.0 root=default >/dev/null 2>>log/osd-create.out
ceph-osd -c ceph.conf -i 0 --mkfs >log/osd-mkfs.out 2>&1
ceph-osd -c ceph.conf -i 0 -f </dev/null >log/osd.out 2>&1 &
echo $! >osd.pid
radosgw -c ceph.conf -n client.rgw.a -f </dev/null >log/rgw.out 2>&1 &
echo $! >rgw.pid

ready=""
for _ in $(seq 1 120); do
  for d in mon osd rgw; do kill -0 "$(cat $d.pid)" 2>/dev/null || fail "ceph-$d exited"; done
  if curl -sf -m 2 "http://127.0.0.1:$PORT/" >/dev/null; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || fail "radosgw did not answer on 127.0.0.1:$PORT within 60 s"
timeout 30 radosgw-admin -c ceph.conf user create --uid=test --display-name=test \
  --access-key="$AK" --secret="$SK" >/dev/null 2>log/user-create.out
trap - ERR
echo "endpoint=http://127.0.0.1:$PORT ak=$AK sk=$SK"
