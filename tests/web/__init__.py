"""The web console's tests (a package, so its conftest and helpers do not shadow the suite's)."""
