#!/bin/bash
# Packs what a run on the lent GPU machine needs (it has no Node and reaches no registry) into
# .gpu/wp.tar.xz, which `.git/info/exclude` should list (`/.gpu/`): this Node, the built dist/
# (build first), bench/, package.json, and the runtime files of the engines, linux-x64 only, as
# listed in node-modules.txt (found with strace on a full parity run: every engine, every backend).
# About 40 MB; the device tool carries 64 MiB a call, the repository included.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/port-main.cjs ] || { echo "pack.sh: run npm run build first" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
w=$stage/wp
mkdir -p "$w/bin" "$w/node_modules" .gpu
cp "$(command -v node)" "$w/bin/node"
strip "$w/bin/node" 2>/dev/null || true
cp -r dist bench package.json "$w/"
find "$w/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
rm -f "$w/bench/results.json"
while read -r f; do
  [ -n "$f" ] || continue
  mkdir -p "$w/node_modules/$(dirname "$f")"
  cp -r "node_modules/$f" "$w/node_modules/$f"
done < scripts/device/node-modules.txt
cp scripts/device/prep.mjs scripts/device/run-parity.sh scripts/device/run-speed.sh .gpu/
# Vulkan and GL loaders for Dawn there (.deb files unpacked at the start of each run; device README)
if ! ls .gpu/gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gpu/gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq && (cd .gpu/gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
tar cf - -C "$stage" wp | xz -T2 -6 > .gpu/wp.tar.xz
ls -la .gpu/wp.tar.xz
