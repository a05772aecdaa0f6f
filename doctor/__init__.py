"""`python -m doctor`: the Pinaivu troubleshooting page as checks against the configured target.

Light on purpose (httpx and the standard library only): it runs before anything else, often
on a machine where the user only wants to know why their first request failed.
"""
