"""The reference Pinaivu gateway: `python -m gateway --profile NAME`."""
