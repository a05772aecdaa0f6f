"""Shared parts of the scenarios: target config, the user class, the recorder, arrivals."""
