"""`overlayc keys`: node key pairs (the private key stays on the node, the public key goes in the
YAML)."""

from pathlib import Path
from typing import Annotated

import typer

from overlayc.compile import keys as keys_mod
from overlayc.files import keys as key_files
from overlayc.options import check_key_file

keys_app = typer.Typer(
    help="Node key pairs: the private key stays on the node, the public key goes in the YAML.",
    no_args_is_help=True,
)


@keys_app.command("gen")
def keys_gen(
    node: Annotated[str, typer.Option("--node", help="node name, as in the YAML")],
    out: Annotated[Path | None, typer.Option("--out", metavar="PATH", help="where to write the key")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing key file")] = False,
) -> None:
    """Write a new X25519 private key (mode 0600) and print the public key line for the YAML."""
    path = out if out is not None else key_files.default_key_path(node)
    public = key_files.generate_key_file(path, force=force)
    typer.echo(f"wrote {path} (mode 0600); add under nodes.{node} in the YAML:", err=True)
    typer.echo(f"public_key: {keys_mod.encode_key(public)}")


@keys_app.command("show")
def keys_show(
    node: Annotated[str | None, typer.Option("--node", help="read the node's default key file")] = None,
    key_file: Annotated[Path | None, typer.Option("--key-file", metavar="PATH",
                                                  callback=check_key_file)] = None,
) -> None:
    """Print the public key and its fingerprint of a private key file (never the private key)."""
    if (node is None) == (key_file is None):
        raise typer.BadParameter("give exactly one of --node and --key-file")
    path = key_file if key_file is not None else key_files.default_key_path(node or "")
    public = keys_mod.public_key_of(key_files.read_private_key(path))
    typer.echo(f"public_key: {keys_mod.encode_key(public)}")
    typer.echo(f"fingerprint: {keys_mod.public_key_fingerprint(public)}")
