"""Render docs/screenshots/{light,dark,phone}.png of the browser client against a real server.

Starts the scripted model (tests/fakes/model_server.py) and a real server (default team, on a
temporary data dir), plays a short conversation with a code block, tool cards and the panels,
and photographs it with Debian's Chromium:

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--team default]

Needs /usr/bin/chromium, the playwright package and frontend/vendor (scripts/build_frontend.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from backend.main import start_app  # noqa: E402
from backend.settings import Settings  # noqa: E402
from tests.fakes.model_server import FakeModelServer, Reply  # noqa: E402
from tests.support.chromium import CHROMIUM  # noqa: E402
from tests.support.chromium import LAUNCH_ARGS as BROWSER_ARGS  # noqa: E402

LAUNCH_ARGS = [*BROWSER_ARGS, "--font-render-hinting=none"]  # the same text rendering on every machine
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

PALINDROME_ANSWER = """A palindrome reads the same forwards and backwards.

Normalise the text first, then compare it with its reverse:

```python
import re


def is_palindrome(text: str) -> bool:
    \"\"\"True when text reads the same both ways, ignoring case and punctuation.\"\"\"
    letters = re.sub(r"[^a-z0-9]", "", text.lower())
    return letters == letters[::-1]
```

| Input | Result |
|---|---|
| `"A man, a plan, a canal: Panama"` | `True` |
| `"AgentChat"` | `False` |

It runs in **O(n)** time; for very long inputs compare the two halves with two pointers instead."""

# Todos added from the page's own socket (as the panel's form would), to fill the panel.
ADD_TODO_JS = (
    "(t) => window.__agentchat.send({type: 'todo_add', title: t, session_id: window.__agentchat.state.current.id})"
)

PLANNER_ANSWER = (
    "Done. I added **Review the release notes** to your todos and I'll remind you to *stretch* in 10 minutes."
)


async def ws_request(url: str, *frames: dict[str, Any], until: str = "done") -> list[dict[str, Any]]:
    """Send frames on a fresh socket and collect events up to the first `until` event."""
    out: list[dict[str, Any]] = []
    async with connect(url) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 20))
            out.append(event)
            if event["type"] == until:
                return out


async def seed_other_sessions(url: str) -> None:
    """A few older conversations so the sidebar looks lived-in."""
    for title in ("Trip planning for Lisbon", "Why is CI flaky on Fridays?", "Draft the Q3 update email"):
        events = await ws_request(url, {"type": "new", "title": title}, until="session")
        sid = events[-1]["session_id"]
        await ws_request(url, {"type": "message", "content": title, "session_id": sid})


async def play_conversation(page: Any, fake: FakeModelServer, team: str) -> None:
    async def send(text: str, final: str) -> None:
        await page.fill("#composer-input", text)
        await page.press("#composer-input", "Enter")
        await page.locator(".part--final", has_text=final).last.wait_for(timeout=20_000)
        await page.wait_for_function("document.documentElement.dataset.running === 'no'", timeout=20_000)

    fake.enqueue(Reply.of_text(PALINDROME_ANSWER, chunk_chars=12))
    await send("Write a Python function that checks whether a string is a palindrome.", "two pointers")
    await send("!ls", "exit")

    if team == "default":
        fake.enqueue(Reply.of_tool_call("transfer_to_planner", {}))
    fake.enqueue(
        Reply.of_tool_calls(
            ("add_todo", {"title": "Review the release notes", "priority": "high", "due": "friday 5pm"}),
            ("schedule_reminder", {"when": "in 10 minutes", "message": "stretch"}),
        ),
        Reply.of_text(PLANNER_ANSWER, chunk_chars=10),
    )
    await send("Add a todo to review the release notes by Friday, and remind me to stretch in 10 minutes.", "Done.")

    for title in ("Book the team offsite venue", "Renew the TLS certificate"):
        await page.evaluate(ADD_TODO_JS, title)
    await page.locator("#todo-list .todo", has_text="Renew the TLS").wait_for()
    await page.locator("#todo-list .todo", has_text="Book the team").locator(".todo__check").check()
    await page.locator("#todo-list .todo.todo--done").wait_for()


async def shoot(out: Path, team: str) -> None:
    from playwright.async_api import async_playwright

    fake = FakeModelServer()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        for name, text in {"README.md": "# demo\n", "app.py": "print('hi')\n", "notes.txt": "todo\n"}.items():
            (workdir / name).write_text(text)
        settings = Settings.from_env(
            {
                "HOST": "127.0.0.1",
                "PORT": "0",
                "DATA_DIR": str(Path(tmp) / "data"),
                "TEAM": team,
                "AGENT_WORKDIR": str(workdir),
                "LLM_EMBEDDED": "0",
                "LLM_BASE_URL": fake.base_url,
                "LLM_MODEL": fake.model,
                "SANDBOX_ENABLED": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        runtime = await start_app(settings)
        base = f"http://127.0.0.1:{runtime.app.port}"
        try:
            await seed_other_sessions(f"ws://127.0.0.1:{runtime.app.port}/")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
                context = await browser.new_context(viewport=DESKTOP, color_scheme="light")
                page = await context.new_page()
                await page.goto(base + "/")
                await page.wait_for_selector('#conn-status[data-state="online"]')
                await play_conversation(page, fake, team)
                session_url = page.url
                await settle(page)
                await page.screenshot(path=str(out / "light.png"))
                await context.close()

                for name, viewport, scheme in (("dark", DESKTOP, "dark"), ("phone", PHONE, "light")):
                    context = await browser.new_context(
                        viewport=viewport,
                        color_scheme=scheme,
                        is_mobile=name == "phone",
                        has_touch=name == "phone",
                        device_scale_factor=2 if name == "phone" else 1,
                    )
                    page = await context.new_page()
                    await page.goto(session_url)
                    await page.wait_for_selector('#conn-status[data-state="online"]')
                    await page.locator(".part--final", has_text="Done.").first.wait_for()
                    if name == "dark":
                        await page.locator('.tool[data-tool="add_todo"] summary').click()
                    await settle(page)
                    await page.screenshot(path=str(out / f"{name}.png"))
                    await context.close()
                await browser.close()
        finally:
            await runtime.stop()
            await fake.stop()


async def settle(page: Any) -> None:
    """Let fonts load and animations finish; scroll the conversation to the end."""
    await page.evaluate("document.fonts.ready")
    await page.evaluate("document.getElementById('scroller').scrollTop = 1e9")
    await page.mouse.move(1, 1)
    await page.wait_for_timeout(400)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--team", default="default", help="team preset (default: the three-agent swarm)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(args.out, args.team))
    for name in ("light", "dark", "phone"):
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
