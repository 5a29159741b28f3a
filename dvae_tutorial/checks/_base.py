"""What every exercise check shares: the error a wrong answer raises, the line a right one prints."""


class ExerciseError(AssertionError):
    """The answer to an exercise is not right yet; the message says how."""


def passed(message: str) -> bool:
    print(f"correct: {message}")
    return True
