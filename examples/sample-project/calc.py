"""A tiny sample project that the ci-pipeline example builds, lints and tests."""


def add(a, b):
    return a + b


def mean(values):
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)
