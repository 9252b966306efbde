#!/usr/bin/env bash
# Set up genofed in ./.venv from nothing. Idempotent: a second run only checks.
#
#   bash deploy/install.sh          the product (what a hospital or coordinator installs)
#   bash deploy/install.sh --test   also pytest, bcftools/plink2/tabix as independent oracles
#                                   for the reader tests, and nginx for the deployed-coordinator
#                                   tests (Debian packages, needs root)
#
# A coordinator machine also needs nginx (Debian package `nginx`): `genofed coordinator start`
# runs it as the hospitals' address, passing Flower's Fleet API only (deploy/README.md).
#
# PyTorch goes in FIRST and pinned to the CPU build: installed afterwards as a dependency of
# flwr/opacus, pip would pull the newest torch with gigabytes of CUDA packages. The CPU build
# comes from a wheel pip already finds without an index (its find-links: a machine that keeps
# one on disk), else from PyTorch's CPU index (GENOFED_TORCH_INDEX_URL): PyPI's Linux wheel of
# the same version is the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${GENOFED_TORCH_VERSION:-2.13.0}"
TORCH_INDEX_URL="${GENOFED_TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
PYTHON="${PYTHON:-python3}"
with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

# pip, quiet unless it fails; then its output (less this machine's find-links noise) and exit 1
pip_install() {
    local log
    log=$(mktemp)
    if ! .venv/bin/pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
        grep -v "^WARNING: Location" "$log" >&2
        rm -f "$log"
        echo "genofed: pip install $* failed" >&2
        exit 1
    fi
    rm -f "$log"
}

if [ ! -x .venv/bin/python ]; then
    echo "genofed: creating .venv with $($PYTHON --version)" >&2
    "$PYTHON" -m venv .venv
    pip_install --upgrade pip
fi

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    echo "genofed: installing torch==$TORCH_VERSION (CPU)" >&2
    if .venv/bin/pip install --quiet --disable-pip-version-check --no-index --no-deps \
            "torch==$TORCH_VERSION" >/dev/null 2>&1; then
        pip_install "torch==$TORCH_VERSION"  # the wheel found on disk; now its dependencies
    else
        pip_install --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple \
            "torch==$TORCH_VERSION"
    fi
    if .venv/bin/python -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)" 2>/dev/null; then
        echo "genofed: warning: the torch installed is a CUDA build (gigabytes genofed does not use);" \
            "remove .venv and set GENOFED_TORCH_INDEX_URL to a CPU index" >&2
    fi
fi
if [ $with_tests = 1 ]; then extras=".[test]"; else extras="."; fi
echo "genofed: installing genofed and its dependencies" >&2
pip_install -e "$extras"

if [ $with_tests = 1 ]; then
    missing=()
    # chromium: the report test opens report.html in a real headless browser
    for tool in bcftools plink2 tabix chromium; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    # nginx lives in /usr/sbin, which is not on every PATH
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "genofed: installing test tools: ${missing[*]}" >&2
            # the tests run their own nginx; RUNLEVEL=1 keeps invoke-rc.d from starting the package's service
            apt-get update -qq >/dev/null && \
                DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "genofed: ${missing[*]} not found; the tests needing them will be skipped" \
                 "(install the Debian packages to run them)" >&2
        fi
    fi
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "genofed: note: a coordinator needs nginx (apt-get install nginx); a hospital does not" >&2
fi
# installed as root for a service account (deploy/README.md): its Python must be one every user can
# run; a pyenv Python under /root (mode 0700) is not, and the service then fails with "Permission denied"
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null && id nobody >/dev/null 2>&1 &&
    ! runuser -u nobody -- .venv/bin/python -c pass 2>/dev/null; then
    echo "genofed: note: other users cannot run .venv/bin/python ($(readlink -f .venv/bin/python)):" \
         "a folder on its path is private to root; for a service account, install with a Python every" \
         "user can run (e.g. PYTHON=/usr/bin/python3) in a folder they can read" >&2
fi
echo "genofed: ready (.venv/bin/genofed)" >&2
