"""A numpy model engine with Keras 3 names and numbers, whose training loop publishes its lifecycle on an event bus."""

__all__: list[str] = []
