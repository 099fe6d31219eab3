#!/usr/bin/env bash
# Install what the portal needs on a Debian machine: system packages (when missing) and the Python
# virtual environment in .venv/, then compile the translation catalogs.
#   scripts/bootstrap.sh          runtime only (Redis)
#   scripts/bootstrap.sh --test   also PostgreSQL, Chromium and fonts for the test suite
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

packages=()
command -v redis-server >/dev/null || packages+=(redis-server)
if (( want_test )); then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
  [[ -x /usr/bin/chromium ]] || packages+=(chromium)
  [[ -d /usr/share/fonts/truetype/nanum ]] || packages+=(fonts-nanum)  # Korean glyphs in screenshots
fi
if (( ${#packages[@]} )); then
  echo "==> installing Debian packages: ${packages[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
extras=""
(( want_test )) && extras="[test]"
echo "==> installing Python packages"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | grep -v -E "^(WARNING: Location|  )" || true
.venv/bin/python -c "import flask, portal" >/dev/null  # fail loudly if the install did not take

.venv/bin/pybabel compile -q -d portal/translations 2>/dev/null || .venv/bin/pybabel compile -d portal/translations >/dev/null
