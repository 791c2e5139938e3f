"""Authorization: the only package that knows Casbin.

A request's principal becomes one `Plan` (authz.plan): SQL row scopes for db queries and
a relation bitmask table for O(1) field and action checks per row.
"""
