#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the tests that load models in a real
# browser (playwright-core drives it with executablePath; no browser is ever downloaded by
# playwright). Installs Debian's package with apt-get when it is missing and we are root;
# otherwise says what is needed and exits 1, and those tests skip with that reason.
# Usage: scripts/browser-env.sh
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "browser-env: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium)" >&2
  exit 1
fi
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null
[ -x /usr/bin/chromium ] || { echo "browser-env: apt-get did not install /usr/bin/chromium" >&2; exit 1; }
