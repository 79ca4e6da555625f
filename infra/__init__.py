"""Adapters that touch the outside world: database, broker topology, relay, notifications."""
