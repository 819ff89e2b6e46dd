"""Evidence: what reclaim produces to prove its records to others (e.g. RFC 3161 trusted timestamps)."""
