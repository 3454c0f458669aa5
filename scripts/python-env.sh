#!/usr/bin/env bash
# Creates the Python environments that tests and fixture scripts use (never the product):
#   $WEIGHTPORT_CACHE/venv-tf    tensorflow-cpu, keras, onnx, onnxruntime, h5py, safetensors
#   $WEIGHTPORT_CACHE/venv-torch Debian's torch + torchvision, timm (--no-deps)
# Idempotent: a venv whose requirements file has not changed is reused.
# Usage: scripts/python-env.sh [tf|torch|all]   (prints nothing but errors unless -v)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIGHTPORT_CACHE:-$HOME/.cache/weightport}
which=${1:-all}
mkdir -p "$cache"

stamp_ok() { # venv requirements-file
  [ -f "$1/.req" ] && cmp -s "$1/.req" "$2" && [ -x "$1/bin/python" ]
}

make_tf() {
  local venv=$cache/venv-tf req=$here/fixtures/requirements.txt
  stamp_ok "$venv" "$req" && return 0
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --retries 0 -r "$req"
  cp "$req" "$venv/.req"
}

make_torch() {
  local venv=$cache/venv-torch req=$here/fixtures/requirements-torch.txt
  stamp_ok "$venv" "$req" && return 0
  if ! /usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        python3-torch python3-torchvision python3-venv python3-pip) >/dev/null
    else
      echo "python-env: needs Debian's python3-torch and python3-torchvision (apt-get install)" >&2
      return 1
    fi
  fi
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  # The machine's pip constraints cap torch; Debian's torch is used as it is.
  "$venv/bin/pip" install --quiet --retries 0 --no-deps -r "$req"
  "$venv/bin/python" -c 'import timm' 
  cp "$req" "$venv/.req"
}

case $which in
  tf) make_tf ;;
  torch) make_torch ;;
  all) make_tf; make_torch ;;
  *) echo "usage: $0 [tf|torch|all]" >&2; exit 2 ;;
esac
