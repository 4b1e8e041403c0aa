"""How hard tests/reliability searches: a short, deterministic run by default (CI), a long,
fresh-seeded one under `pytest --reliability-long` (the `reliability_long` fixture)."""
from __future__ import annotations

from hypothesis import HealthCheck, settings


def search_settings(long: bool, examples: int, long_examples: int) -> settings:
    """Hypothesis settings for one property: `examples` derandomized examples by default (the
    same programs every CI run, no example database), `long_examples` random ones when long.
    Compiling a program costs 0.1-0.5 s, so the default counts stay in the tens."""
    return settings(
        max_examples=long_examples if long else examples,
        derandomize=not long,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                               HealthCheck.function_scoped_fixture],
    )


def pick(long: bool, default, long_value):
    return long_value if long else default
