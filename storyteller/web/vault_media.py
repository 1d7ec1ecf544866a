"""Story bytes to the browser: decrypted from the vault as they are sent, with HTTP Range for seeking.

Nothing plain is written anywhere on the way; ``Cache-Control: no-store`` (set
for every response by the app) keeps them out of the browser's cache.
"""

from __future__ import annotations

from flask import abort, current_app, request
from werkzeug.wsgi import wrap_file

from storyteller.store.vault import Vault, VaultError


def send_from_vault(vault: Vault, name: str, mimetype: str, download_name: str | None = None):
    try:
        reader = vault.open(name)
    except VaultError:
        abort(404)
    response = current_app.response_class(
        wrap_file(request.environ, reader), mimetype=mimetype or "application/octet-stream", direct_passthrough=True
    )
    response.content_length = reader.size
    if download_name:
        response.headers.set("Content-Disposition", "inline", filename=download_name)
    return response.make_conditional(request.environ, accept_ranges=True, complete_length=reader.size)
