"""Errors raised while the service is configured or reaches its database."""


class ConfigError(Exception):
    """A configuration that cannot work; the message names the variable at fault."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class DatabaseUnavailable(Exception):
    """The database could not be reached or did not answer in time."""


class CredentialsRejected(DatabaseUnavailable):
    """The database refused the credentials (MySQL error 1045), e.g. after a rotation."""
