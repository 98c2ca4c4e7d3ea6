"""The base of the networks' architecture configurations: plain data in, checked, plain data out."""

from dataclasses import asdict, dataclass
from typing import Any, Self


@dataclass(frozen=True)
class NetworkConfig:
    """A frozen dataclass of architecture settings that a model folder records as ``network``.

    Subclasses add their fields and check them in :meth:`validate`.
    """

    def validate(self) -> None:
        """Check the settings (a subclass refuses what it cannot build, raising ``ConfigError``)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Rebuild a configuration from :meth:`to_dict` output, ignoring keys of other sections.

        Raises:
            ConfigError: if the result is invalid.
        """
        config = cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})
        config.validate()
        return config
