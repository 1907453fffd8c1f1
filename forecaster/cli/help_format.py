"""Option help without a type after a flag. Imported by ``forecaster.cli.app``, so every
command's ``--help`` has it.

typer 0.29's rich help prints a type after every option, flags too: ``--scheduler <bool>``
and ``--help <bool>`` read as if each took a value, and ``--scheduler true`` is refused. Its
plain help leaves a flag bare, as click does; this makes the rich help do the same.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

# a typer without it (older, or one that renamed it) shows its help as it does: no failure
_display_type = getattr(TyperOption, "display_type_rich", None)


def _display_type_unless_flag(self: TyperOption, ctx: Any) -> str | None:
    """The type an option's value is shown with; none for a flag or a counter."""
    if self.is_flag or self.count or _display_type is None:
        return None
    return _display_type(self, ctx)


if _display_type is not None:
    TyperOption.display_type_rich = _display_type_unless_flag  # type: ignore[method-assign]
