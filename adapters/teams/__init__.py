"""The Microsoft Teams adapter (Bot Framework protocol, Microsoft 365 Agents SDK)."""
