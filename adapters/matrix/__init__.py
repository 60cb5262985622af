"""The Matrix adapter (Synapse, Element): matrix-nio against the client-server API."""
