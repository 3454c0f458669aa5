#!/bin/bash
# On the GPU machine: bash .gpu/run-parity.sh (scripts/device/pack.sh put it there; carry .gpu).
# The parity engines there: WebGPU on the card (Vulkan), ort, tfjs-wasm, and the CUDA engines'
# reasons. LOCAL=1: skip the .deb/ldconfig step, for a test here.
set -o pipefail
G=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
T0=$(date +%s); log() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
if [ -z "$LOCAL" ]; then for f in "$G"/gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
log system
nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,vbios_version --format=csv
ls -la /usr/local/nvidia; ls -la /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/share/glvnd/egl_vendor.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
ldconfig -p | grep -E 'libvulkan|libEGL|libnvidia-glcore|libGLX_nvidia' | head -20
nproc; grep -m1 'model name' /proc/cpuinfo; head -2 /etc/os-release; uname -r
log unpack
W0=/tmp/wp0; rm -rf $W0; mkdir -p $W0
if command -v xz >/dev/null; then tar xJf "$G/wp.tar.xz" -C $W0; else python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$G/wp.tar.xz" $W0; fi || { echo UNPACK FAILED; exit 2; }
W=$W0/wp; cd $W || exit 2; export PATH=$W/bin:$PATH
export WEIGHTPORT_CACHE=/tmp/wpcache CI=1
node -v
log "probe (Vulkan forced)"
export WEIGHTPORT_WEBGPU_BACKEND=default
timeout 60 node "$G/prep.mjs" probe; rc=$?
if [ $rc -ne 0 ] && [ -z "$VK_DRIVER_FILES" ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  log "probe again with VK_DRIVER_FILES/__EGL_VENDOR_LIBRARY_FILENAMES"
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  timeout 60 env VK_LOADER_DEBUG=error,warn node "$G/prep.mjs" probe; rc=$?
fi
if [ $rc -ne 0 ]; then log "Vulkan adapter not found: backend no longer forced (opengles fallback)"; unset WEIGHTPORT_WEBGPU_BACKEND; timeout 60 node "$G/prep.mjs" probe; fi
echo "WEIGHTPORT_WEBGPU_BACKEND=${WEIGHTPORT_WEBGPU_BACKEND-<unset>} VK_DRIVER_FILES=${VK_DRIVER_FILES-<unset>}"
[ -n "$STOP_AFTER_PROBE" ] && exit 0
log seed
timeout 120 node "$G/prep.mjs" seed || log "seed failed rc=$?"
P=$WEIGHTPORT_CACHE/parity
log "port parity IRv2 tfjs on webgpu against the onnx on ort"
timeout 90 node dist/port.cjs parity $P/seeded_inception_resnet_v2.tfjs --against $P/seeded_inception_resnet_v2.onnx --engine webgpu --json > "$OUT/parity-irv2-webgpu.json"; echo "rc=$?"
head -c 4000 "$OUT/parity-irv2-webgpu.json"; echo
log "bench parity"
timeout ${BENCH_TIMEOUT:-300} node bench/run.mjs --only parity --out "$OUT/results.json"; echo "bench rc=$?"
log "port parity v4 tfjs on webgpu against the onnx on ort"
timeout 60 node dist/port.cjs parity $P/seeded_inception_v4.tfjs --against $P/seeded_inception_v4.onnx --engine webgpu --json > "$OUT/parity-v4-webgpu.json"; echo "rc=$?"
log done
