"""Composed rich text: only the composer's formatting survives, and the plain-text rendering
reads like something a person typed."""

from __future__ import annotations

import pytest

from inbox.conversations.rich_text import html_to_text, sanitize_html, text_to_html


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<p>Line one<br>line two</p>", "Line one\nline two"),
        ("<ul><li>hull</li><li>motor</li></ul>", "- hull\n- motor"),
        ("<ol><li>sign</li><li>pay</li><li>sail</li></ol>", "1. sign\n2. pay\n3. sail"),
        (
            "<p>Intro:</p><ul><li>a<ul><li>a.1</li><li>a.2</li></ul></li><li>b</li></ul><p>End</p>",
            "Intro:\n\n- a\n  - a.1\n  - a.2\n- b\n\nEnd",
        ),
        ("<ol><li>first<br>more</li><li>second</li></ol>", "1. first\n   more\n2. second"),
        (
            'See <a href="https://oem.example/q">the quote</a>.',
            "See the quote (https://oem.example/q).",
        ),
        ('<a href="https://oem.example">https://oem.example</a>', "https://oem.example"),
        ('<a href="mailto:dana@oem.test">dana@oem.test</a>', "dana@oem.test"),
        ("<b>bold</b> <i>italic</i> <u>under</u> <s>gone</s>", "*bold* /italic/ _under_ gone"),
        ("<p>  lots   of\n\n  space  </p>", "lots of space"),
        ("<p>Fish &amp; chips &lt;3</p>", "Fish & chips <3"),
    ],
)
def test_html_renders_as_readable_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_only_the_composers_formatting_survives() -> None:
    hostile = (
        '<p onclick="x()" style="color:red">Hi<script>alert(1)</script>'
        '<img src=x onerror="alert(1)"><a href="javascript:alert(1)">bad</a>'
        '<a href="https://ok.example" target="_blank" onmouseover="x()">ok</a>'
        '<a href="data:text/html,<script>alert(1)</script>">data</a>'
        "<iframe src=//evil.example></iframe><!-- note --><span>Big</span>"
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><s>s</s><del>d</del></p>"
    )
    assert sanitize_html(hostile) == (
        '<p>Hi<a rel="noopener noreferrer">bad</a>'
        '<a href="https://ok.example" rel="noopener noreferrer">ok</a>'
        '<a rel="noopener noreferrer">data</a>'
        "Big<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><s>s</s><del>d</del></p>"
    )


def test_plain_text_becomes_escaped_paragraphs() -> None:
    assert text_to_html("Hi <Pat>,\nline\n\nBye") == "<p>Hi &lt;Pat&gt;,<br>line</p><p>Bye</p>"
