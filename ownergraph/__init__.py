"""ownergraph: who owns each customer, and who may see what."""
