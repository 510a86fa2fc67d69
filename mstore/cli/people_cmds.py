"""``mstore people``: the people the ``people`` pipeline found; name, merge, split."""

from __future__ import annotations

import click

from mstore.cli.args import utf8_text
from mstore.cli.main import Context, emit_shaped, store_option


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list.")
@click.option("--unnamed-first", is_flag=True, help="List people nobody named yet first.")
@store_option
@click.pass_context
def people(ctx: click.Context, as_json: bool, unnamed_first: bool) -> None:
    """List the people found in photos and videos (run the `people` pipeline first):
    id, name, how many faces, how many assets. Subcommands name, merge and split them.
    """
    if ctx.invoked_subcommand is not None:
        return
    from mstore.services import people as ps

    store = ctx.obj.store()
    store.catch_up()
    with store.reader() as r:
        view = ps.load(r)
    rows = ps.listing(view, unnamed_first=unnamed_first)
    if as_json:
        emit_shaped({"people": rows, "run": view.run or None,
                     "policy": view.policy or None}, "PeopleList")
        return
    if not view.run:
        click.echo("no people yet: run the people pipeline (mstore run people)", err=True)
        return
    for row in rows:
        click.echo(f"{row['id']:<14} {row['name'] or '-':<24} {row['faces']:>6} faces "
                   f"{row['assets']:>6} assets")
    click.echo(f"{len(rows)} people, from run {view.run} ({view.policy})", err=True)


def _current(obj: Context):  # noqa: ANN202
    """The store and its current people."""
    from mstore.services import people as ps

    store = obj.store()
    store.catch_up()
    with store.reader() as r:
        return store, ps.load(r)


def _write(store, changes) -> None:  # noqa: ANN001
    from mstore.services.labels import set_labels

    set_labels(store, changes)


@people.command("name")
@click.argument("person")
@click.argument("name")
@store_option
@click.pass_obj
def name_cmd(obj: Context, person: str, name: str) -> None:
    """Give PERSON (an id, id prefix or current name) the name NAME ("" clears it)."""
    from mstore.services import people as ps

    store, view = _current(obj)
    changes = ps.name_changes(view, utf8_text(person, "PERSON"), utf8_text(name, "NAME"))
    _write(store, changes)
    p = ps.person(view, person)
    click.echo(f"{p.id} is now {changes[0].value or 'unnamed'}")


@people.command("merge")
@click.argument("keep")
@click.argument("other")
@store_option
@click.pass_obj
def merge_cmd(obj: Context, keep: str, other: str) -> None:
    """Same person: OTHER's faces become KEEP's (KEEP keeps its id; its name, or OTHER's)."""
    from mstore.services import people as ps

    store, view = _current(obj)
    kept, changes = ps.merge_changes(view, utf8_text(keep, "KEEP"), utf8_text(other, "OTHER"))
    _write(store, changes)
    click.echo(f"merged {ps.person(view, other).id} into {kept.id}")


@people.command("split")
@click.argument("person")
@click.argument("faces", nargs=-1, required=True)
@store_option
@click.pass_obj
def split_cmd(obj: Context, person: str, faces: tuple[str, ...]) -> None:
    """Not this person: take FACES (ASSET#N, as `mstore show ASSET` numbers them) off
    PERSON. The next people run places them elsewhere, never with PERSON again."""
    from mstore.services import people as ps
    from mstore.services import resolve

    store, view = _current(obj)
    ps.person(view, utf8_text(person, "PERSON"))  # an unknown person before any face
    spots = [ps.parse_face(utf8_text(f, "FACE")) for f in faces]
    picked = [(resolve.asset(store, where), n) for where, n in spots]
    with store.reader() as r:
        p, changes = ps.split_changes(r, view, person, picked)
    _write(store, changes)
    click.echo(f"{len(faces)} faces taken off {p.id}")


COMMANDS = [people]
