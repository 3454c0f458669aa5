#!/bin/bash
# On the GPU machine: bash .gpu/run-speed.sh (scripts/device/pack.sh put it there; carry
# .gpu/wp.tar.xz and .gpu/run-speed.sh): the conversion rows on its 16 cores, no GPU use.
set -o pipefail
G=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
T0=$(date +%s); log() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
log system
nproc; grep -m1 'model name' /proc/cpuinfo; free -m; uname -r; ls /usr/bin/time 2>&1
cat /sys/kernel/mm/transparent_hugepage/enabled 2>&1; ls /sys/kernel/mm/damon/admin/kdamonds 2>&1 | head -3
df -h /tmp | tail -1
log unpack
W0=/tmp/wp0; rm -rf $W0; mkdir -p $W0
if command -v xz >/dev/null; then tar xJf "$G/wp.tar.xz" -C $W0; else python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$G/wp.tar.xz" $W0; fi || { echo UNPACK FAILED; exit 2; }
W=$W0/wp; cd $W || exit 2; export PATH=$W/bin:$PATH
export WEIGHTPORT_CACHE=/tmp/wpcache CI=1
node -v; env | grep -c NODE_EXTRA_CA_CERTS
log bench
timeout ${BENCH_TIMEOUT:-330} node bench/run.mjs --only startup,layout,write-safetensors,write-onnx --out "$OUT/speed.json"; echo "bench rc=$?"
log done
