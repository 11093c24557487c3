"""One exception type for every mistake a learner can make.

A `TutorialError` carries a short message that says what went wrong and what to do.
In Jupyter it is shown as that message alone, not as a traceback through library code.
"""


class TutorialError(RuntimeError):
    """A problem with the learner's input or machine, explained in plain words."""

    def _render_traceback_(self):  # IPython calls this instead of printing a traceback
        return [f"\N{CHERRY BLOSSOM} {type(self).__name__}: {self}"]
