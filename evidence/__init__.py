"""Shared evidence core: records, bundles, signing and verification.

Agent, server and the offline verifier all import this package; it imports none of them.
"""
