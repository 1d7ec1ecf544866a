"""How fast a phone's file reaches the laptop through `storyteller serve --lan`, in 1 MB pieces.

    PYTHONPATH=. .venv/bin/python tests/bench/bench_phone_upload.py [MEGABYTES]

Runs the real server on 127.0.0.1 and 127.0.0.2 (standing in for the Wi-Fi address) over a
temporary data folder, joins with the printed code, signs in, and sends MEGABYTES (default 30)
of photo-sized data as the phone page does, piece by piece (each piece fsynced by the vault).
The anchor is the same bytes in one request to the laptop's own picture upload. On a real
Wi-Fi the radio is the limit (a few MB/s); this measures what the laptop adds.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _client():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for name, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _post(opener, url, csrf, fields=None, files=None):
    body, kind = _multipart(fields or {}, files or {})
    request = urllib.request.Request(url, body, {"Content-Type": kind, "X-CSRFToken": csrf, "X-Requested-With": "fetch"})
    try:
        with opener.open(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _csrf(opener, url) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', opener.open(url).read().decode()).group(1)


def main(megabytes: int) -> None:
    from storyteller.app import create_app
    from storyteller.store import passphrase
    from storyteller.store.db import db_path, open_database
    from storyteller.store.participants import add_participant
    from storyteller.store.workshops import create_workshop
    from storyteller.web.phone import CHUNK_BYTES
    from tests.journey_helpers import spawn_cli

    data_dir = Path(tempfile.mkdtemp()) / "data"
    create_app({"DATA_DIR": str(data_dir)})
    conn = open_database(db_path(data_dir))
    passphrase.set_first(conn, "a long facilitator passphrase")
    rose = add_participant(conn, create_workshop(conn, "Bench", "ur", ""), "Rose", "4821")
    conn.close()
    port = 5990
    # --unlock, the passphrase on its stdin: her pages need the workshop key (her words are sealed).
    server = spawn_cli(
        ["serve", "--lan", "--lan-address", "127.0.0.2", "--port", str(port), "--no-worker", "--unlock"],
        data_dir,
        feed=b"a long facilitator passphrase\n",
    )
    try:
        code = None
        while code is None:
            code = (re.search(r"join code (\d{3} \d{3})", server.stdout.readline().decode()) or [None, None])[1]
        phone, base = _client(), f"http://127.0.0.2:{port}/phone"
        time.sleep(1)
        _post(phone, base + "/", _csrf(phone, base + "/"), {"code": code})
        _post(phone, base + "/signin", _csrf(phone, base + "/signin"), {"participant": rose, "pin": "4821"})
        csrf = _csrf(phone, base + "/photos")
        payload = os.urandom(megabytes << 20)
        started = time.perf_counter()
        status, answer = _post(phone, base + "/upload", csrf, {"kind": "photo", "size": len(payload), "name": "a.jpg"})
        token = re.search(rb'"upload":\s*"([^"]+)"', answer).group(1).decode()
        for offset in range(0, len(payload), CHUNK_BYTES):
            status, _ = _post(
                phone, f"{base}/upload/{token}/piece", csrf, {"offset": offset}, {"piece": payload[offset : offset + CHUNK_BYTES]}
            )
            assert status == 200, status
        pieces = time.perf_counter() - started
        # The anchor: the same bytes in one request, as the laptop's own picture upload takes them.
        laptop = _client()
        signin = f"http://127.0.0.1:{port}/story/signin"
        _post(laptop, signin, _csrf(laptop, signin + "?workshop=1"), {"workshop": 1, "participant": rose, "pin": "4821"})
        started = time.perf_counter()
        _post(
            laptop,
            f"http://127.0.0.1:{port}/story/pictures/add",
            _csrf(laptop, f"http://127.0.0.1:{port}/story/pictures"),
            {},
            {"picture": payload},
        )
        whole = time.perf_counter() - started
        print(f"phone upload in 1 MB pieces: {megabytes / pieces:.0f} MB/s ({pieces:.2f} s for {megabytes} MB)")
        print(f"anchor, one request:         {megabytes / whole:.0f} MB/s ({whole:.2f} s)")
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=20)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
