"""``mstore ui``: the web UI over this store (starlette/jinja2/uvicorn load only here)."""

from __future__ import annotations

import click

from mstore.cli.main import Context, store_option


@click.command()
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option("--token", default=None,
              help="Require this token on every request (generated when binding a "
                   "non-loopback address without one).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (repeatable; besides "
                   "localhost, the bound address and [ui] hosts in config.toml).")
@store_option
@click.pass_obj
def ui(obj: Context, bind: str, port: int, token: str | None,
       allow_hosts: tuple[str, ...]) -> None:
    """Serve the web UI: assets, runs (live), artifacts with lineage, collections."""
    import secrets

    from mstore.errors import UsageError
    from mstore.ui.app import create_app
    from mstore.ui.guard import is_loopback
    from mstore.ui.server import serve

    store_dir = obj.store().root
    obj.close()  # the app opens the store itself (one LMDB handle per process)
    if token == "":
        raise UsageError("--token must not be empty")
    if token is None and not is_loopback(bind):
        token = secrets.token_urlsafe(24)
        click.echo(f"token: {token}  (binding {bind}: every request needs it)", err=True)
    app = create_app(store_dir, token=token, bind=bind, hosts=allow_hosts)
    for problem in app.state.ui.panel_problems:
        click.echo(f"warning: {problem}", err=True)
    host = f"[{bind}]" if ":" in bind else bind
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    click.echo(f"mstore ui on {url}  (Ctrl-C stops)", err=True)
    serve(app, bind, port)


COMMANDS = [ui]
