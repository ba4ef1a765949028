"""The local session's computed settings."""
from __future__ import annotations

import pytest

from scripts_spark.session import driver_memory

GIB = 1024 ** 3


@pytest.mark.parametrize(("physical", "expected"), [
    (24 * GIB, "8g"),     # this machine: half would be 12g, capped at 8g
    (8 * GIB, "4g"),
    (3 * GIB, "1g"),      # half of 3 GiB rounds down to 1g
    (1 * GIB, "1g"),      # never under Spark's own default
])
def test_driver_memory_is_half_the_machine_between_1g_and_8g(physical, expected):
    assert driver_memory(physical) == expected


def test_driver_memory_of_this_machine_is_a_valid_size():
    value = driver_memory()
    assert value.endswith("g") and 1 <= int(value[:-1]) <= 8
