"""User-facing texts (``nl.yaml``, ``en.yaml``), the question library and other word lists."""
