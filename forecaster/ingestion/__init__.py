"""Getting metrics in: validated batches (REST, CSV), Prometheus pull and remote-write."""
