"""Live updates: the event bus (in-process or Redis), replay, subscription resolvers."""
