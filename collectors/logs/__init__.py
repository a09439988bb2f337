"""Collectors of the "logging" category: syslog daemons, journald, logrotate, auditd."""
