"""Collectors of the "security-software" category: anti-malware, integrity checking, HIDS."""
