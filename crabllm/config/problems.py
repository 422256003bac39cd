"""A sink for config problems: raise the first (serve, reload) or gather every one (`crabllm check`)."""

from __future__ import annotations

from collections.abc import Iterable

from crabllm.errors import ConfigError


class Problems:
    """Where validation reports what it finds; the same checks run in both modes.

    By default the first problem is raised, as the server has always done. With
    `collect=True` every problem is kept in `errors`, in the order found.
    """

    def __init__(self, *, collect: bool = False) -> None:
        self.collect = collect
        self.errors: list[ConfigError] = []
        self._quiet: set[str] = set()

    def add(self, error: ConfigError) -> None:
        if not self.collect:
            raise error from None
        if error.path and self._is_quiet(error.path):
            return
        if any(str(e) == str(error) for e in self.errors):
            return
        self.errors.append(error)

    def run(self, found: Iterable[ConfigError]) -> None:
        """Report every problem a check yields; a check that raises instead ends with that problem."""
        try:
            for error in found:
                self.add(error)
        except ConfigError as error:
            self.add(error)

    def quiet(self, paths: Iterable[str]) -> None:
        """Drop later problems at these TOML paths (or under them): they follow from one already reported."""
        self._quiet.update(paths)

    def _is_quiet(self, path: str) -> bool:
        return any(path == q or path.startswith((q + ".", q + "[")) for q in self._quiet)
