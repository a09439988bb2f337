"""Configuration collectors: how the host is set up (services, network, system hardening)."""
