"""The end-to-end steps build on each other: once one fails, the later ones are skipped with the
name of the step that failed (that failure alone makes the run fail)."""

import os

import pytest

# Everything runs on loopback: never send these requests through a proxy from the environment.
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get(_var)]))


def pytest_configure(config):
    config.addinivalue_line("markers", "step: an end-to-end step that needs the steps before it")


def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and call.when in ("setup", "call") and item.get_closest_marker("step"):
        if not call.excinfo.errisinstance(pytest.skip.Exception):
            item.module.__dict__.setdefault("_failed_step", item.name)


def pytest_runtest_setup(item):
    if item.get_closest_marker("step"):
        failed = item.module.__dict__.get("_failed_step")
        if failed:
            pytest.skip(f"an earlier step failed: {failed}")
