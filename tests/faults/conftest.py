"""Fixtures of the fault suite (helpers in faultkit.py: a conftest cannot be imported by name
when several folders have one)."""

from faultkit import reference  # noqa: F401  (the reference run, once per session)
