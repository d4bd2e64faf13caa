#!/usr/bin/env bash
# Builds src/storefront.py into storefront.wasm, a component of Marquee's `listing` world:
# componentize-py (from PyPI, in a virtualenv here) generates the `wit_world` bindings from
# Marquee's WIT and bundles CPython with the app.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/componentize-py ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
fi
.venv/bin/componentize-py --wit-path ../../wit --world listing componentize --python-path src storefront --output storefront.wasm
