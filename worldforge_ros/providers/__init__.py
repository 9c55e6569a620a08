"""Provider adapters: one module per provider (heavy runtimes imported lazily inside each)."""
