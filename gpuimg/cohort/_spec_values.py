"""The checks of one value of a pipeline spec, shared by its tables: a table, its keys, a choice, a
non-empty string, a whole number in a range, true or false. Each refusal is a ConfigError naming the
key."""

from gpuimg.errors import ConfigError


def _table(document: dict, name: str, within: str = "") -> dict:
    """The table ``name`` of ``document`` (of the table ``within``, as ``learning``), or an empty one."""
    value = document.get(name, {})
    if not isinstance(value, dict):
        key = f"{within}.{name}" if within else name
        raise ConfigError(f"{key} must be a table ([{key}]); got {value!r}.")
    return value


def _known(where: str, table: dict, allowed) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; the keys are {sorted(allowed)}.")


def _choice(key: str, value, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; use one of {list(allowed)}.")
    return value


def _str(key: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}={value!r} must be a non-empty string.")
    return value


def _int(key: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key}={value!r} must be a whole number, at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key}={value!r} must be a whole number from {minimum} to {maximum}.")
    return value


def _bool(key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r} must be true or false.")
    return value
