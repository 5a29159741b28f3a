"""What every exercise check shares: the error a wrong answer raises, the line a right one prints."""


class ExerciseError(AssertionError):
    """The answer to an exercise is not right yet; the message says how."""


class Passed:
    """What a passed check returns: true, and shown as nothing in a notebook (the check printed its line)."""

    def __init__(self, message: str):
        self.message = message

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Passed({self.message!r})"

    def _ipython_display_(self) -> None:   # the "correct: ..." line is already printed; no extra `True`
        pass


def passed(message: str) -> Passed:
    print(f"correct: {message}")
    return Passed(message)
