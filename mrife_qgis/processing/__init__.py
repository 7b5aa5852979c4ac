"""The ``mrife`` Processing provider and its algorithms (one module each)."""
