"""Tool calls render as cards, the todos panel follows them, and questions are answered in the page."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage
from tests.fakes.model_server import FakeModelServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_tool_card_shows_arguments_and_result_and_todos_panel_follows(
    chat: ChatPage, fake_model: FakeModelServer
) -> None:
    """add_todo becomes a card with its arguments and result; the panel lists the todo; checking it off completes it."""
    fake_model.enqueue(Reply.of_tool_call("add_todo", {"title": "Buy milk"}), Reply.of_text("Added."))
    await chat.send("remember milk")
    await chat.wait_reply("Added.")
    card = chat.page.locator('.tool[data-tool="add_todo"]')
    assert await card.count() == 1
    assert "tool--ok" in (await card.get_attribute("class") or "")
    assert "Buy milk" in await card.locator(".tool__brief").inner_text()
    await card.locator("summary").click()
    assert '"title": "Buy milk"' in await card.locator(".tool__args").inner_text()
    assert "Buy milk" in await card.locator(".tool__result").inner_text()
    assert (await card.locator(".tool__duration").inner_text()).endswith("ms")
    # the card sits in the same agent block as the final answer: one user message + one block
    assert await chat.message_count() == 2

    todo = chat.page.locator("#todo-list .todo", has_text="Buy milk")
    await todo.wait_for()
    assert "todo--done" not in (await todo.get_attribute("class") or "")
    await todo.locator(".todo__check").check()
    await chat.page.locator("#todo-list .todo.todo--done", has_text="Buy milk").wait_for()
    assert await chat.page.locator("#todo-count").inner_text() == "0 open"


async def test_question_is_answered_from_the_page_and_the_turn_completes(
    chat: ChatPage, fake_model: FakeModelServer
) -> None:
    """ask_user_question shows option buttons; clicking one answers it, locks the prompt and the turn finishes."""
    fake_model.enqueue(
        Reply.of_tool_call("ask_user_question", {"question": "Which colour?", "options": ["red", "blue"]}),
        Reply.of_text("You picked blue, a fine choice."),
    )
    await chat.send("paint the shed")
    prompt = chat.page.locator(".question", has_text="Which colour?")
    await prompt.wait_for()
    assert await prompt.locator(".chip--option").all_inner_texts() == ["red", "blue"]
    assert await chat.page.locator("#stop-button").is_visible()
    await prompt.get_by_role("button", name="blue").click()
    await chat.wait_reply("You picked blue")
    await chat.page.locator('.question.is-locked[data-state="answered"]').wait_for()
    assert "blue" in await prompt.locator(".question__state").inner_text()
    assert "blue" in fake_model.chat_requests[-1].text
    await chat.wait_idle()


async def test_todo_panel_adds_edits_reopens_and_deletes(chat: ChatPage) -> None:
    """The panel's own controls send todo_add / todo_update / todo_delete and show the server's list."""
    await chat.send("start a session")
    await chat.wait_reply("echo: start a session")
    page = chat.page
    await page.fill("#todo-input", "Water the plants")
    await page.press("#todo-input", "Enter")
    item = page.locator("#todo-list .todo", has_text="Water the plants")
    await item.wait_for()
    await item.hover()
    await item.get_by_role("button", name="Edit “Water the plants”").click()
    field = page.locator("#todo-list .todo__edit")
    await field.fill("Water the ferns")
    await field.press("Enter")
    edited = page.locator("#todo-list .todo", has_text="Water the ferns")
    await edited.wait_for()
    await edited.locator(".todo__check").check()
    await page.locator("#todo-list .todo.todo--done", has_text="Water the ferns").wait_for()
    await edited.locator(".todo__check").uncheck()
    await page.locator("#todo-list .todo:not(.todo--done)", has_text="Water the ferns").wait_for()
    await edited.hover()
    await edited.get_by_role("button", name="Delete “Water the ferns”").click()
    await edited.wait_for(state="detached")
    assert await page.locator("#todo-empty").is_visible()
