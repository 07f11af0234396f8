"""User-facing errors: one line each, printed without a traceback, exit code 2."""


class UserError(Exception):
    """Bad input from the user (recipe, data, arguments). The message is one line."""


class RecipeErrors(UserError):
    """Every problem found in a recipe, reported at once."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))
