"""GraphQL shapes only: one module per domain type, thin roots pointing at resolvers/."""
