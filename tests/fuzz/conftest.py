"""Hypothesis settings for the fuzz and property tests (tests/fuzz/), kept out of the global profile.

Profiles are registered here and applied per test through ``fuzz_settings`` (never ``load_profile``,
which would change the settings of every other hypothesis test in the same process):

- ``fuzz-ci`` (default): derandomized, so every run of the suite draws the same examples; no deadline
  (the database and the CI machine are shared); bounded example counts given by each test.
- ``fuzz-deep``: random, ten times the examples, for a local bug hunt:
  ``YINGCAI_FUZZ_PROFILE=fuzz-deep .venv/bin/pytest tests/fuzz``.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
             HealthCheck.filter_too_much, HealthCheck.large_base_example]

settings.register_profile("fuzz-ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_SUPPRESS,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
settings.register_profile("fuzz-deep", derandomize=False, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_SUPPRESS)

PROFILE = os.environ.get("YINGCAI_FUZZ_PROFILE", "fuzz-ci")
SCALE = 10 if PROFILE == "fuzz-deep" else 1


def fuzz_settings(max_examples: int, **kwargs) -> settings:
    """The active fuzz profile with a per-test example budget (scaled up by the deep profile)."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples * SCALE, **kwargs)
