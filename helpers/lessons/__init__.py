"""What the lessons use: one module per lesson topic, each naming its notebook in the first line of
its docstring. May import `models`, `offline` and the shared modules."""
