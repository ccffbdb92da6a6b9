#!/usr/bin/env bash
# Installs what the tests and the plugin builds need: swaks and redis-server (Debian), Node.js and npm for the
# JavaScript plugin (Debian, if absent); aiosmtpd (SMTP sinks), dnslib (the tests' DNS server),
# dkimpy (the independent DKIM verifier) and componentize-py (PyPI); and the
# wasm32-wasip2 target. Safe to run again: it skips what is already there.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v swaks >/dev/null 2>&1; then
    echo "installing swaks (Debian)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swaks >/dev/null
fi

if ! command -v openssl >/dev/null 2>&1; then
    echo "installing openssl (Debian) to read certificates in the tests"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "installing systemd (Debian) for systemd-analyze"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "installing redis-server (Debian) for the multi-node tests; its service is not started"
    as_root apt-get update -qq
    # The tests start their own servers on free ports: keep the package's from starting.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        trap 'as_root rm -f "$policy"' EXIT
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "installing nodejs and npm (Debian) for the JavaScript plugin"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

for module in aiosmtpd dnslib dkim nacl; do
    if ! python3 -c "import $module" >/dev/null 2>&1; then
        package=$module
        [ "$module" = dkim ] && package=dkimpy
        [ "$module" = nacl ] && package=pynacl
        echo "installing $package (PyPI)"
        python3 -m pip install --quiet --disable-pip-version-check "$package"
    fi
done

if ! command -v componentize-py >/dev/null 2>&1; then
    echo "installing componentize-py (PyPI) for the Python plugin"
    python3 -m pip install --quiet --disable-pip-version-check componentize-py
fi

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2
fi
