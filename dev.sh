#!/usr/bin/env bash
# One entry point for people and CI. Each command first sets up what is missing (and only that):
#   ./dev.sh run [ARGS]     set up, then open the window (default example, or ARGS: --expr "x^2+y^2", a session file)
#   ./dev.sh test [ARGS]    set up, then run the whole test suite headless under Xvfb (ARGS go to pytest)
#   ./dev.sh bench          set up, then print the benchmark figures (JSON)
#   ./dev.sh screenshot     set up, then regenerate docs/screenshot.png under Xvfb
#   ./dev.sh setup          only set up
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed
XVFB=(xvfb-run -a -s "-screen 0 1280x1024x24")
# What a bare Debian/Ubuntu needs for a Qt + OpenGL window on a (virtual) screen.
SYSTEM_PACKAGES=(xvfb xauth libgl1 libegl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xkb1)

say() { printf 'calcviz: %s\n' "$*" >&2; }

apt_install() {  # apt_install PKG...: as root, install; otherwise print the one command to run
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing system packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    say "missing system packages. Install them with:"
    say "    sudo apt-get install -y --no-install-recommends $*"
    exit 1
  fi
}

system_packages() {
  command -v dpkg-query >/dev/null || { say "not a Debian/Ubuntu system: make sure Xvfb and the X/GL libraries are installed"; return 0; }
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

python_env() {
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || { say "calcviz needs Python 3.11 or newer as '$PYTHON' (set PYTHON=python3.12 to pick another)"; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv
      "$PYTHON" -m venv "$VENV"
    fi
  fi
  # Reinstall only when the dependencies changed since the last successful install.
  if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    say "installing Python packages into $VENV (TensorFlow is large: a few minutes the first time)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    touch "$STAMP"
  fi
}

setup() { system_packages; python_env; }

command=${1:-run}
shift || true
case "$command" in
  setup) setup ;;
  run) setup; exec "$VENV/bin/python" -m calcviz "$@" ;;
  test)
    setup
    # Separate pytest sessions: TensorFlow (models) and OpenGL (gui) must never share a process; the
    # controllers run with neither (fake views, a numpy engine, Qt's offscreen platform).
    status=0
    "$VENV/bin/lint-imports" --no-cache || status=$?
    "$VENV/bin/python" -m pytest tests/models "$@" || status=$?
    "$VENV/bin/python" -m pytest tests/controllers "$@" || status=$?
    "${XVFB[@]}" "$VENV/bin/python" -m pytest tests/gui "$@" || status=$?
    exit $status ;;
  bench) setup
    "$VENV/bin/python" -c "import scipy, matplotlib" 2>/dev/null || "$VENV/bin/python" -m pip install -q -e '.[test,bench]'
    exec "${XVFB[@]}" "$VENV/bin/python" -m calcviz.bench "$@" ;;
  screenshot) setup; exec "$VENV/bin/python" scripts/screenshot.py "$@" ;;  # one Xvfb per screen size
  *) say "unknown command '$command': use run, test, bench, screenshot or setup"; exit 2 ;;
esac
