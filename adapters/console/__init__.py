"""The console adapter: ``bamboe demo`` (interactive) and ``bamboe simulate`` (scenario replay)."""
