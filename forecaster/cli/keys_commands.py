"""``forecaster keys create|list|revoke``: manage API keys (the full key is printed only once)."""

from __future__ import annotations

import typer

from forecaster.cli.app import app, database_session, fail, say

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    name: str = typer.Option(..., help="who or what uses the key, e.g. prometheus-bridge"),
    scope: list[str] = typer.Option(..., help="ingest, read or admin; repeat for several"),
) -> None:
    """Create a key; store the printed secret now, it is never shown again."""
    from forecaster.errors import ForecasterError
    from forecaster.security.api_keys import create_key

    try:
        with database_session() as session:
            issued = create_key(session=session, name=name, scopes=scope)
    except ForecasterError as error:
        fail(str(error))
    say(f"created key {issued.prefix} ({name}) with scopes {', '.join(issued.scopes)}")
    say(issued.secret)


@keys_app.command("list")
def list_() -> None:
    """List keys: prefix, name, scopes, created, last used, revoked."""
    from forecaster.security.api_keys import list_keys

    with database_session() as session:
        keys = list_keys(session=session)
        if not keys:
            say("no API keys yet; create one: forecaster keys create --name NAME --scope read")
        for key in keys:
            revoked = f" revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            say(
                f"{key.prefix}  {key.name}  [{', '.join(key.scopes)}]  "
                f"created {key.created_at:%Y-%m-%d %H:%M}  last used {used}{revoked}"
            )


@keys_app.command("revoke")
def revoke(
    prefix: str = typer.Argument(
        ..., help="the key's prefix, as `keys list` shows (or the whole key: never printed)"
    ),
) -> None:
    """Revoke a key: requests with it get 401 within a second."""
    from forecaster.errors import ForecasterError
    from forecaster.security.api_keys import revoke_key

    try:
        with database_session() as session:
            key = revoke_key(session=session, prefix=prefix)
    except ForecasterError as error:
        fail(str(error))
    say(f"revoked key {key.prefix} ({key.name})")
