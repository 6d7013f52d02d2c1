#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) from nothing.
#
#   scripts/bootstrap.sh            # CPU machine: tensorflow-cpu
#   TF_PACKAGE=tensorflow scripts/bootstrap.sh   # GPU machine: the CUDA build of TensorFlow
#
# Order matters: TensorFlow and the MPI wheel first, then Horovod built from source against them
# (with the venv's bin first on PATH so the build finds mpicxx), then climseg itself in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
TF_PACKAGE=${TF_PACKAGE:-tensorflow-cpu}
TF_VERSION=2.18.1
HOROVOD_VERSION=0.28.1
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export PIP_EXTRA_INDEX_URL=""   # quiet pip about extra indexes configured on some machines but absent
pip() { "$PWD/$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

pip install -q --upgrade "pip>=24" "setuptools>=70,<76" wheel cmake
pip install -q "$TF_PACKAGE==$TF_VERSION" -r requirements.txt
# tf-keras requires "tensorflow"; with --no-deps it sits on whichever TensorFlow build TF_PACKAGE chose.
pip install -q --no-deps "tf-keras==${TF_VERSION%.*}.0"

if ! python -c "import horovod.tensorflow" 2>/dev/null; then
    echo "bootstrap: building horovod $HOROVOD_VERSION against $TF_PACKAGE $TF_VERSION (about 2 minutes)"
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
    HOROVOD_WITHOUT_GLOO=1 pip install -q --no-cache-dir --no-build-isolation "horovod==$HOROVOD_VERSION"
fi
pip install -q --no-deps --no-build-isolation -e .
python - <<'PY'
import os
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tensorflow as tf, horovod, horovod.tensorflow, mpi4py, h5py, numpy
print(f"bootstrap: ok: tensorflow {tf.__version__}, horovod {horovod.__version__}, "
      f"numpy {numpy.__version__}, h5py {h5py.__version__}, mpi4py {mpi4py.__version__}")
PY
