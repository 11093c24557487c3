"""Which model fits this machine and how it loads: runtime facts, memory estimates, the model
choice and loading (text and vision) with errors a learner can act on. Imports `offline` and the
shared modules, never `lessons`."""
