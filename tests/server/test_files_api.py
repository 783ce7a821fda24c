"""File uploads over HTTP (POST/GET /v1/sessions/{id}/files) against a real server on port 0."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from backend.context.tokens import TokenCounter
from backend.settings import Settings
from tests.conftest import RunningServer
from tests.fakes.model_server import FakeModelServer
from tests.support.client import UNIT
from tests.support.sse import SseEvent, SseReader

SMALL_LIMIT = 4096


@pytest.fixture
async def running(make_settings: Callable[..., Settings]) -> AsyncIterator[RunningServer]:
    """A server with small upload limits (4 KiB, 3 files) and a 50-token excerpt budget."""
    settings = make_settings(UPLOAD_MAX_BYTES=str(SMALL_LIMIT), UPLOAD_MAX_FILES="3", UPLOAD_EXCERPT_TOKENS="50")
    server = await RunningServer(settings).start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(running: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.http, timeout=4 * UNIT) as client:
        yield client


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/sessions", json={})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def folder(running: RunningServer, sid: str) -> Path:
    return running.settings.data_dir / "uploads" / "public" / sid


async def upload(http: httpx.AsyncClient, sid: str, name: str, data: bytes) -> httpx.Response:
    return await http.post(f"/v1/sessions/{sid}/files", files={"file": (name, data, "application/octet-stream")})


def raw_multipart(filename: bytes, data: bytes = b"hello\n") -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand, so the file name's bytes arrive exactly as given."""
    boundary = b"xXxBoundaryxXx"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


async def turn(http: httpx.AsyncClient, sid: str, content: str) -> list[SseEvent]:
    """Post a message and read the session's events until its done."""
    last = (await http.get(f"/v1/sessions/{sid}")).json()["last_seq"]
    async with http.stream("GET", f"/v1/sessions/{sid}/events", params={"after": str(last)}) as response:
        reader = SseReader(response)
        ack = await http.post(f"/v1/sessions/{sid}/messages", json={"content": content})
        assert ack.status_code == 202, ack.text
        return await reader.until("done")


async def test_upload_list_and_timeline(running: RunningServer, http: httpx.AsyncClient) -> None:
    """An upload is stored in the session's folder, listed with size and sha256, and is a file event."""
    sid = await new_session(http)
    data = b"line one\nline two\n"
    response = await upload(http, sid, "notes.txt", data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "notes.txt" and body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["paths"] == ["/uploads/notes.txt (terminal)"] and body["sandbox"] == "none"
    assert (folder(running, sid) / "notes.txt").read_bytes() == data
    listed = (await http.get(f"/v1/sessions/{sid}/files")).json()["files"]
    assert [(f["name"], f["size"], f["sha256"]) for f in listed] == [("notes.txt", len(data), body["sha256"])]
    assert listed[0]["uploaded_at"] > 0
    history = (await http.get(f"/v1/sessions/{sid}/history")).json()["events"]
    event = [e for e in history if e["type"] == "file"]
    assert len(event) == 1 and event[0]["seq"] == body["seq"] and event[0]["name"] == "notes.txt"
    again = await upload(http, sid, "notes.txt", b"other")
    assert again.status_code == 201 and again.json()["name"] == "notes-2.txt"


async def test_next_turn_carries_reference_and_bounded_excerpt(
    running: RunningServer, http: httpx.AsyncClient, fake_model: FakeModelServer
) -> None:
    """The model's next request holds the file's reference and at most 50 tokens of it, not the whole file."""
    sid = await new_session(http)
    text = "".join(f"row {i}: alpha beta gamma\n" for i in range(150))  # ~1,200 tokens, under 4 KiB
    assert (await upload(http, sid, "data.txt", text.encode())).status_code == 201
    assert (await upload(http, sid, "blob.bin", bytes(range(256)) * 4)).status_code == 201
    events = await turn(http, sid, "what is in the file?")
    assert events[-1].json["status"] == "ok"
    request = fake_model.chat_requests[-1]
    prompt = request.text
    assert "[file uploaded: data.txt (" in prompt and "/uploads/data.txt" in prompt
    assert "row 0: alpha beta gamma" in prompt and "row 149" not in prompt
    note = next(m["content"] for m in request.messages if "file uploaded: data.txt" in str(m.get("content")))
    excerpt = note.split("):\n", 1)[1].rsplit("\n]", 1)[0]
    assert 0 < TokenCounter.load().count_text(excerpt) <= 50
    assert "[file uploaded: blob.bin (1.0 KiB, binary: no excerpt) at /uploads/blob.bin (terminal)]" in prompt
    again = await turn(http, sid, "and now?")
    assert again[-1].json["status"] == "ok" and fake_model.chat_requests[-1].last_user == "and now?"


async def test_terminal_reads_the_upload(running: RunningServer, http: httpx.AsyncClient) -> None:
    """查看文件 /uploads/notes.txt and `!cat` read the upload inside the confinement; other paths stay refused."""
    sid = await new_session(http)
    assert (await upload(http, sid, "notes.txt", b"uploaded secret sauce\n")).status_code == 201
    events = await turn(http, sid, "查看文件 /uploads/notes.txt")
    result = next(e.json for e in events if e.event == "tool_result")
    assert result["is_error"] is False and "uploaded secret sauce" in result["content"], result
    listing = next(e.json for e in await turn(http, sid, "!ls /uploads") if e.event == "tool_result")
    assert "notes.txt" in listing["content"] and ".index.json" not in listing["content"]
    escape = next(e.json for e in await turn(http, sid, "!cat /uploads/../etc/shadow") if e.event == "tool_result")
    assert escape["is_error"] is True and "outside" in escape["content"]
    other = await new_session(http)
    theirs = next(e.json for e in await turn(http, other, "!cat /uploads/notes.txt") if e.event == "tool_result")
    assert theirs["is_error"] is True and "uploaded secret sauce" not in theirs["content"]


async def test_hostile_uploads_get_clear_4xx(running: RunningServer, http: httpx.AsyncClient) -> None:
    """Path names are stored inside the folder; NUL/newline/10 kB names, no file, non-multipart: clear 4xx."""
    sid = await new_session(http)
    url = f"/v1/sessions/{sid}/files"
    passwd = await upload(http, sid, "../../etc/passwd", b"root:x:0:0\n")
    assert passwd.status_code == 201 and passwd.json()["name"] == "passwd"
    assert (folder(running, sid) / "passwd").read_bytes() == b"root:x:0:0\n"
    assert not (running.settings.data_dir / "etc").exists() and not (folder(running, sid).parent / "etc").exists()

    cases: list[tuple[int, str, httpx.Response]] = []
    for name in (
        b"a\x00b.txt",
        b"evil\nname.txt",
        b"tab\there.txt",
        b"a" * 2_000,
        b"b" * 300,
        b"..",
        b"\xe2\x80\xaetxt.exe",
    ):
        body, headers = raw_multipart(name)
        cases.append((400, "bad_file_name", await http.post(url, content=body, headers=headers)))
    body, headers = raw_multipart(b"a" * 10_000)  # the multipart parser refuses a 10 kB header line itself
    cases.append((400, "bad_request", await http.post(url, content=body, headers=headers)))
    cases += [
        (400, "no_file", await http.post(url, files={"other": ("x.txt", b"x")})),
        (400, "no_file", await http.post(url, data={"file": "just text"}, files={"dummy": ("d", b"")})),
        (415, "unsupported_media_type", await http.post(url, json={"file": "x"})),
        (415, "unsupported_media_type", await http.post(url, content=b"raw bytes")),
        (404, "unknown_session", await upload(http, "doesnotexist", "a.txt", b"x")),
        (404, "unknown_session", await upload(http, "x" * 100, "a.txt", b"x")),
    ]
    for expected, code, response in cases:
        assert response.status_code == expected, (response.request.url, response.text)
        assert response.json()["code"] == code, (response.request.url, response.text)
    names = sorted(p.name for p in folder(running, sid).iterdir())
    assert names == [".index.json", "passwd"]
    assert (await http.get("/healthz")).status_code == 200


async def test_size_and_count_limits(running: RunningServer, http: httpx.AsyncClient) -> None:
    """Over UPLOAD_MAX_BYTES (by Content-Length or chunked) is 413 with nothing left on disk; a fourth file is 409."""
    sid = await new_session(http)
    assert (await upload(http, sid, "exact.bin", b"x" * SMALL_LIMIT)).status_code == 201
    over = await upload(http, sid, "big.bin", b"x" * (SMALL_LIMIT + 1))
    assert over.status_code == 413 and over.json()["code"] == "too_large"
    huge = await upload(http, sid, "huge.bin", b"x" * (200 * 1024))  # refused by the edge, before any parsing
    assert huge.status_code == 413
    body, headers = raw_multipart(b"chunked.bin", b"x" * (200 * 1024))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    chunked = await http.post(f"/v1/sessions/{sid}/files", content=chunks(), headers=headers)  # no Content-Length
    assert chunked.status_code == 413, chunked.text
    assert sorted(p.name for p in folder(running, sid).iterdir()) == [".index.json", "exact.bin"]
    for name in ("two.txt", "three.txt"):
        assert (await upload(http, sid, name, b"ok")).status_code == 201
    full = await upload(http, sid, "four.txt", b"no room")
    assert full.status_code == 409 and full.json()["code"] == "too_many_files"
    assert not (folder(running, sid) / "four.txt").exists()
    assert len((await http.get(f"/v1/sessions/{sid}/files")).json()["files"]) == 3


async def test_deleting_the_session_removes_its_uploads(running: RunningServer, http: httpx.AsyncClient) -> None:
    """DELETE /v1/sessions/{id} removes the upload folder; the files route is then 404."""
    sid = await new_session(http)
    assert (await upload(http, sid, "notes.txt", b"bye")).status_code == 201
    assert folder(running, sid).is_dir()
    assert (await http.delete(f"/v1/sessions/{sid}")).status_code == 200
    assert not folder(running, sid).exists()
    assert (await http.get(f"/v1/sessions/{sid}/files")).status_code == 404


async def test_upload_is_refused_from_a_foreign_origin(http: httpx.AsyncClient) -> None:
    """The edge's CSRF check covers uploads: a cross-site multipart POST is 403."""
    sid = await new_session(http)
    response = await http.post(
        f"/v1/sessions/{sid}/files",
        files={"file": ("a.txt", b"x")},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert json.loads(response.text)["code"] == "bad_origin"
