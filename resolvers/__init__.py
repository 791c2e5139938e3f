"""Use cases, as plain `async def verb_noun(ctx, ...)` functions, one module per group."""
