"""The page's pure helpers, run in the browser: socket URL, backoff, dispatch default, colours."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_socket_url_follows_the_page_location(chat: ChatPage) -> None:
    """ws:// or wss:// from the page scheme, same host, under the page's directory, token carried along."""
    urls = await chat.page.evaluate(
        """async () => {
            const { socketUrl } = await import('/js/connection.js');
            return [
              socketUrl({protocol: 'http:', host: '127.0.0.1:8765', pathname: '/', search: ''}),
              socketUrl({protocol: 'https:', host: 'example.org', pathname: '/chat/index.html', search: '?token=a b'}),
              socketUrl({protocol: 'https:', host: 'example.org', pathname: '/team/chat/', search: ''}),
            ];
        }"""
    )
    assert urls == [
        "ws://127.0.0.1:8765/ws",
        "wss://example.org/chat/ws?token=a%20b",
        "wss://example.org/team/chat/ws",
    ]


async def test_backoff_is_full_jitter_capped_and_never_gives_up(chat: ChatPage) -> None:
    """Delays are uniform up to min(15 s, 0.5 s * 2^attempt): growing, capped, for any attempt number."""
    result = await chat.page.evaluate(
        """async () => {
            const { backoffDelay } = await import('/js/connection.js');
            const max = (n) => backoffDelay(n, { random: () => 1 });
            const min = (n) => backoffDelay(n, { random: () => 0 });
            return { max: [0, 1, 2, 3, 5, 10, 1000].map(max), min: [0, 1000].map(min) };
        }"""
    )
    assert result["max"] == [500, 1000, 2000, 4000, 15000, 15000, 15000]
    assert result["min"] == [100, 100]


async def test_unknown_event_types_are_reported_not_dropped_silently(chat: ChatPage) -> None:
    """dispatch() sends known types to their handler and reports anything else."""
    result = await chat.page.evaluate(
        """async () => {
            const { dispatch, unknownTypes } = await import('/js/protocol.js');
            const seen = [];
            dispatch({ type: 'pong' }, {});
            dispatch({ type: 'delta', content: 'x' }, { delta: (e) => seen.push(e.content) });
            dispatch({ type: 'from_the_future' }, {});
            return { seen, unknown: [...unknownTypes] };
        }"""
    )
    assert result == {"seen": ["x"], "unknown": ["from_the_future"]}
    reported = [e for e in chat.errors if "unknown event type" in e]
    assert len(reported) == 1
    chat.errors.remove(reported[0])


async def test_agent_colours_are_stable_per_name(chat: ChatPage) -> None:
    """The same agent name always gets the same hue; different names usually differ."""
    hues = await chat.page.evaluate(
        """async () => {
            const { hashHue } = await import('/js/util.js');
            return ['assistant', 'assistant', 'planner', 'operator'].map(hashHue);
        }"""
    )
    assert hues[0] == hues[1]
    assert len(set(hues[1:])) == 3
    assert all(0 <= h < 360 for h in hues)
