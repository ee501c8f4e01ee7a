"""Reading TOML files and checking their tables, with messages a user can act on."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from clinpred.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is one :class:`ConfigError` line."""
    from clinpred.core.files import read_regular_bytes

    path = Path(path)
    try:
        data = read_regular_bytes(path)
    except ValueError as exc:  # a FIFO or device
        raise ConfigError(f"{path}: {str(exc).replace('the data', 'the config')}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; pass an existing file with --config") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; give a TOML config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config (arrays or tables inside each other "
                          "thousands of levels deep); give a TOML config") from None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse keys of ``table`` that are not in ``allowed``, naming the key and a close match."""
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r}{did_you_mean(key, allowed)}; "
                f"allowed keys: {', '.join(sorted(allowed))}"
            )


def expect_type(value: Any, types: type | tuple[type, ...], where: str, what: str) -> Any:
    """Return ``value`` if it has one of ``types`` (bool is never accepted as a number)."""
    numeric = types in (int, float, (int, float))
    if isinstance(value, bool) and numeric or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ConfigError(f"{where}: {what} must be {names}, got {type(value).__name__} {value!r}")
    return value
