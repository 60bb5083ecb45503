#!/usr/bin/env bash
# Build the separate MONAI Label environment that tests/bundles/test_monailabel.py serves our bundles from:
#
#   scripts/setup_monailabel_env.sh VENV_DIR        then   export METASSL_MONAILABEL_PYTHON=VENV_DIR/bin/python
#
# - torch 2.14.1 + torchvision 0.29.1, a matching pair: MONAI Label's start-up imports torchvision, and the PyPI
#   torchvision wheel does not load beside the CPU torch 2.13.0 wheel of the main environment.
# - monai at the version of the calling environment (`python`), so bundles behave as in the main tests
#   (override with MONAI_VERSION=x.y.z).
# - monailabel 0.8.5 with --no-deps: its declared sam2 / full torchvision stack is not needed by the monaibundle
#   app started with `--conf sam2 false`; we install exactly what its server imports, with the DICOM pins it needs.
# - this project (editable), so the bundles' `$import metassl_monai` resolves in the server.
#
# While it runs, VENV/.metassl_monailabel_building holds its pid: .ci/run builds the environment beside the test suite,
# whose MONAI Label tests run last and wait for it (tests/monailabel_env.py).
#
# Idempotent and cheap: when VENV_DIR was built by this same script version (same pyproject.toml and monai version),
# it only re-points the editable install at this checkout if needed (no download, no torch import) and returns.
# Measured here on 2 shared CPU cores: ~12 min from scratch (~7.7 GB, torch/torchvision come from the local wheel
# cache), a few seconds when up to date.
set -euo pipefail
VENV=${1:?usage: scripts/setup_monailabel_env.sh VENV_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$VENV"  # first: mark the build before anything slow (importing monai takes seconds)
BUILDING="$VENV/.metassl_monailabel_building"
echo $$ > "$BUILDING"
trap 'rm -f "$BUILDING"' EXIT
MONAI_VERSION=${MONAI_VERSION:-$(python -c 'import monai; print(monai.__version__)' 2>/dev/null || echo 1.6.1)}
STAMP="$VENV/.metassl_monailabel_env"
KEY="$( (cat "$0" "$ROOT/pyproject.toml"; echo "monai=$MONAI_VERSION") | sha256sum | cut -c1-16)"
CHECK='import torch, torchvision, monai, monailabel, metassl_monai, itk, fastapi, uvicorn; print("monailabel", monailabel.__version__, "torch", torch.__version__, "torchvision", torchvision.__version__, "monai", monai.__version__)'

WHERE='import importlib.util as u; s = u.find_spec("metassl_monai"); print(s.origin if s else "")'
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ] && [ -x "$VENV/bin/monailabel" ]; then
    # asked from / : run from the checkout, the current directory's metassl_monai/ would hide a stale install
    if [ "$(cd / && "$VENV/bin/python" -c "$WHERE")" != "$ROOT/metassl_monai/__init__.py" ]; then
        echo "[setup_monailabel_env] pointing $VENV at $ROOT"
        "$VENV/bin/python" -m pip install --progress-bar off --no-deps -e "$ROOT"
    fi
    echo "[setup_monailabel_env] $VENV is up to date"
    exit 0
fi
start=$(date +%s)
echo "[setup_monailabel_env] building $VENV (monai $MONAI_VERSION)"
python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --progress-bar off)
echo "[setup_monailabel_env] 1/4 torch 2.14.1 + torchvision 0.29.1"
"${PIP[@]}" torch==2.14.1 torchvision==0.29.1
echo "[setup_monailabel_env] 2/4 monai $MONAI_VERSION and this project (editable)"
"${PIP[@]}" "monai==$MONAI_VERSION" -e "$ROOT"
echo "[setup_monailabel_env] 3/4 monailabel 0.8.5 (no deps: no sam2)"
"${PIP[@]}" --no-deps monailabel==0.8.5
echo "[setup_monailabel_env] 4/4 what the monailabel server imports"
"${PIP[@]}" \
    pydicom==2.4.4 pydicom-seg==0.4.1 "dicomweb-client[gcp]==0.59.1" pynetdicom==2.0.2 \
    fastapi uvicorn "pydantic>=2.7" "pydantic-settings>=2.2.1" python-dotenv python-multipart httpx \
    schedule timeloop expiringdict expiring_dict cachetools watchdog filelock passlib pyjwt bcrypt \
    requests requests-toolbelt pyyaml psutil pynrrd itk girder-client shapely scikit-image
"$VENV/bin/python" -c "$CHECK"
echo "$KEY" > "$STAMP"
echo "[setup_monailabel_env] done in $(( $(date +%s) - start )) s"
