"""Persistence: tables, engine and sessions, queries. Imports nothing from other folders."""
