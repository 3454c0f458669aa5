#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium for the HTML report test (playwright-core
# drives it; playwright never downloads a browser here). Installs it with apt-get when missing and
# running as root; otherwise says what is needed and exits 1 (the test then skips, with the reason).
# Usage: scripts/chromium.sh
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium.sh: /usr/bin/chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
  exit 1
fi
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null
[ -x /usr/bin/chromium ]
