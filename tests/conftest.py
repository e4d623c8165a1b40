"""Settings for the whole suite.

Hypothesis profiles: property tests must not turn CI red at random, so the default profile (`ci`) is
derandomized (the same examples on every run and machine) and keeps no example database (a fresh clone and a
developer's checkout run the same examples). The `nightly` profile searches new random examples, many more of
them: `HYPOTHESIS_PROFILE=nightly python -m pytest tests/fmt` (add `--hypothesis-seed=N` to replay a run; see
tests/README.md). A test's own `@settings(max_examples=...)` still wins over the profile's count.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings

# lmp's caches default to the user's cache folder ($XDG_CACHE_HOME/lmp, lmp.cachedir): the suite (and every
# `lmp` process it starts, which inherits the environment) uses a folder of its own, never the real ~/.cache.
_XDG = tempfile.mkdtemp(prefix="lmp-test-xdg-cache-")
os.environ["XDG_CACHE_HOME"] = _XDG
atexit.register(shutil.rmtree, _XDG, True)

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly", derandomize=False, database=None, deadline=None, max_examples=3000,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
