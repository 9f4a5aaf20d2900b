"""The explorer's JSON endpoint and server: numbers from the lab, clear 400s, never a 500."""

from __future__ import annotations

import html
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.serve import explorer_state, make_server


def test_state_seed_defaults():
    s = explorer_state({})
    # the seed: h = 1, 2, 4, 8, 16, 32; dL/dw = 16·5 = 80; w_new = 2 − 0.01·80 = 1.2
    assert s["forward"][-1] == "h_5 = 2 × 16 = 32" and s["loss"] == "32"
    assert s["backward"]["values"] == "16 + 16 + 16 + 16 + 16"
    assert s["grad"] == "80" and s["sgd"]["w_new"] == "1.2"
    # clipping 80 at c = 5: 80 / max(1, 80/5) = 5; w = 2 − 0.01·5 = 1.95
    assert s["clip"]["grad_clipped"] == "5" and s["clip"]["w_new"] == "1.95"
    assert [r["seed"] for r in s["table"]] == ["80", "≈ 1024", "≈ 10^6", "≈ 10^15"]
    # the cells grouped as the erratum beside them writes them: 2^50, 50·2^49
    assert s["table"][3]["h_T"] == "1,125,899,906,842,624"
    assert s["table"][3]["grad"] == "28,147,497,671,065,600"
    assert s["errata"]
    assert "Here |w| = 2 > 1: the gradient explodes" in s["why"]
    assert "largest at two time steps, T = 9 and T = 10" in explorer_state({"w": "0.9"})["why"]


def test_state_T10_and_bengali():
    s = explorer_state({"w": "2", "T": "10", "lang": "bn"})
    assert s["grad"] == "5,120"  # 10 · 2^9, as the page shows it
    assert s["labels"]["ui_forward"] == "Forward Pass" and s["labels"]["ui_lang"] == "ভাষা"
    assert "closed form" in s["grad_text"]


def test_state_large_T_is_abbreviated():
    s = explorer_state({"w": "1.01", "T": "10000"})
    assert len(s["forward"]) == 10 and "more" in s["forward"][6]
    assert s["grad"].startswith("≈ ") and "× 10^" in s["grad"]
    assert len(s["curve"]["T"]) <= 205 and s["curve"]["current_T"] == 10000


@pytest.mark.parametrize(
    ("params", "argument"),
    [
        ({"w": "x"}, "w"),
        ({"T": "0"}, "T"),
        ({"T": "10001"}, "T"),
        ({"T": "2.5"}, "T"),
        ({"eta": "-1"}, "eta"),
        ({"c": "0"}, "c"),
        ({"lang": "de"}, "lang"),
        ({"foo": "1"}, "parameter"),
        ({"w": "nan"}, "w"),
    ],
)
def test_state_bad_input(params, argument):
    with pytest.raises(InputError) as e:
        explorer_state(params)
    assert e.value.argument == argument


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"  # loopback only
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read().decode()
            status = r.status
            ctype = r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        body, status, ctype = e.read().decode(), e.code, e.headers["Content-Type"]
    return status, json.loads(body) if ctype.startswith("application/json") else body


def test_http_page_and_api(base_url):
    status, page = _get(base_url + "/")
    assert status == 200 and "<script>" in page and 'id="grad"' in page
    status, data = _get(base_url + "/api/lesson?w=2&T=10")
    assert status == 200 and data["ok"] and data["grad"] == "5,120"
    status, data = _get(base_url + "/api/lesson?w=2&T=0")
    assert status == 400 and not data["ok"]
    assert data["error"] == "T must be a whole number from 1 to 10,000, got '0'."
    status, data = _get(base_url + "/nope")
    assert status == 404


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(["w", "h0", "T", "eta", "c", "lang", "zz"]),
        st.one_of(
            st.text(max_size=12),
            st.integers(-(10**6), 10**6).map(str),
            st.floats().map(str),
            # edges: |w| = 1, huge powers (past decimal's default exponent range), T = 10^4
            st.sampled_from(["1e300", "-1e300", "1e-300", "10000", "1", "-1", "0.123456789"]),
        ),
        max_size=6,
    )
)
def test_http_never_500(base_url, params):
    status, data = _get(base_url + "/api/lesson?" + urllib.parse.urlencode(params))
    assert status in (200, 400)
    assert isinstance(data, dict) and data["ok"] == (status == 200)
    if status == 400:
        assert "\n" not in data["error"] and data["error"]


def test_cli_serve_port_in_use(capsys):
    server = make_server(0)
    try:
        port = server.server_address[1]
        assert main(["serve", "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gradguard: error: --port must be a free port, got {port}")
        assert err.count("\n") == 1
    finally:
        server.server_close()


def test_cli_serve_bad_port(capsys):
    assert main(["serve", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "--port" in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_serve_runs_and_answers(tmp_path):
    """`gradguard serve` as a user starts it: prints its URL, answers, stops on SIGINT."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "gradguard", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal, even when this test runs where SIGINT is ignored (a shell's
        # background job): Python installs its KeyboardInterrupt handler only if it is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        status, data = _get(f"http://127.0.0.1:{m[1]}/api/lesson?w=2&T=5")
        assert status == 200 and data["grad"] == "80"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize("w", ["2", "0.9", "-1.5", "3/2", "0", "1"])
@pytest.mark.parametrize("T", [1, 5, 12, 300])
def test_state_agrees_with_the_lesson(w, T):
    """The explorer's few states and terms equal the full lesson's (gradguard.explain)."""
    from gradguard.explain import lesson
    from gradguard.report._lesson import fmt, shown_steps

    s = explorer_state({"w": w, "h0": "3", "T": str(T)})
    d = lesson(w=w, h0=3, T=T, abbreviate=40)  # the report's limit for long values
    assert s["grad"] == fmt(d["grad"]) and s["loss"] == fmt(d["loss"])
    idx = shown_steps(T, 6, 3)

    def result(line: str) -> str:  # "h_7 = 0.9 × 1.162 × 10^0 ≈ 1.046 × 10^0" → "1.046 × 10^0"
        return line[max(line.rfind(" = "), line.rfind(" ≈ ")) + 3 :]

    def bare(v: str) -> str:  # the page marks the result "≈", not every approximate operand
        v = v.removeprefix("≈ ")  # and puts a negative or × 10^k operand in parentheses
        return v[1:-1] if v.startswith("(") and v.endswith(")") else v

    assert [result(ln) for ln, i in zip(s["forward"], idx, strict=True) if i] == [
        bare(fmt(d["states"][i])) for i in idx if i
    ]
    assert [bare(v) for v in s["backward"]["values"].split(" + ") if v != "…"] == [
        bare(fmt(d["terms"][i - 1])) for i in idx if i
    ]
    assert s["sgd"]["w_new"] == fmt(d["sgd"]["w_new"])
    assert s["clip"]["w_new"] == fmt(d["clip"]["w_new"])


@pytest.mark.parametrize("w", ["1", "-1"])
def test_state_overflow_horizon_at_w_one_is_in_scientific_form(w):
    # |dL/dw| = T·|h0| at |w| = 1: float64 overflows only at T ≈ 1.798e308 (the lab's horizon)
    s = explorer_state({"w": w, "T": "5"})
    assert "T ≈ 1.798 × 10^308" in s["overflow"] and "T ≈ 3.403 × 10^38" in s["overflow"]
    assert not re.search(r"\d{16}", s["overflow"])


def test_state_peak_near_one_is_in_scientific_form():
    # |w| within 1e-308 of 1: −1/ln|w| is inf as a float, the whole peak ⌈w/(1−w)⌉ ≈ 10^310
    s = explorer_state({"w": "0." + "9" * 310, "T": "5"})
    assert "largest at two time steps, T ≈ 1.000 × 10^310" in s["why"]
    assert not re.search(r"\d{16}", s["why"] + s["overflow"])


@pytest.mark.parametrize("w", ["1e300", "-1e300", "1e-300", "0.123456789", "1", "-1", "0"])
@pytest.mark.parametrize("T", ["1", "2", "10000"])
@pytest.mark.parametrize(("h0", "eta", "c"), [("1", "0.01", "5"), ("-3", "1e300", "1e-300")])
def test_state_at_the_edges_never_fails(w, T, h0, eta, c):
    # Extreme magnitudes (10^±3,000,000 at T = 10^4), |w| = 1 and w = 0: a page, not a 500.
    s = explorer_state({"w": w, "T": T, "h0": h0, "eta": eta, "c": c})
    assert s["grad"] and s["sgd"]["w_new"] and s["clip"]["w_new"]
    assert not re.search(r"\d{25}", json.dumps(s, ensure_ascii=False))  # all abbreviated


def test_a_burst_of_first_requests_to_a_fresh_server_gets_no_500(tmp_path):
    """32 clients send 400 first requests at once to a just-started `gradguard serve`.

    A fresh process, so nothing is imported yet but what starting the server imports:
    answers come from 32 threads at once (a lazy ``import numpy`` raced there and
    answered 500s). Valid and invalid values are mixed; each must get a 200 or a 400.
    """
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    queries = [  # (query, valid)
        ({"w": "2", "T": "5"}, True),
        ({"w": "0.9", "T": "300", "lang": "bn"}, True),
        ({"w": "1.01", "T": "10000"}, True),
        ({"w": "-1.5", "h0": "3", "T": "12", "lang": "bn"}, True),
        ({"w": "x"}, False),
        ({"T": "0", "lang": "bn"}, False),
        ({"eta": "-1"}, False),
        ({"c": "0", "lang": "bn"}, False),
        ({"lang": "de"}, False),
        ({"zz": "1"}, False),
    ]
    valid = {urllib.parse.urlencode(q): ok for q, ok in queries}
    urls = list(valid) * 40
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradguard", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
        assert m
        base = f"http://127.0.0.1:{m[1]}/api/lesson?"
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(lambda q: (q, *_get(base + q)), urls))
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    bad = [(q, status, data) for q, status, data in answers if status not in (200, 400)]
    assert bad == []
    assert len(answers) == 400
    for q, status, data in answers:
        assert (status == 200) == valid[q], (q, status, data)
        assert data["ok"] == (status == 200)
        if status == 400:
            assert data["error"] and "\n" not in data["error"] and "internal" not in data["error"]


@pytest.mark.parametrize(
    ("lang", "title", "heading"),
    [
        ("en", "gradguard explorer: the seed's system, live", "Explosion table"),
        ("bn", "gradguard explorer: টিউটোরিয়ালের সিস্টেম, সরাসরি হিসাব", "Explosion টেবিল"),
    ],
)
def test_page_title_and_headings_in_the_chosen_language(base_url, lang, title, heading):
    status, page = _get(base_url + f"/?lang={lang}")
    assert status == 200
    assert f'<html lang="{lang}">' in page and f"<title>{html.escape(title)}</title>" in page
    assert f'<h2 data-t="ui_table">{heading}</h2>' in page
    assert not re.search(r"\{\{\w+\}\}", page)  # every placeholder filled
    status, error = _get(base_url + "/?lang=de")
    assert status == 400 and error.startswith("lang must be one of en, bn, got 'de'")


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_page_brings_the_fonts_of_every_language_it_can_show(base_url, lang):
    import base64

    from fontTools.ttLib import TTFont

    from gradguard.report._fonts import SCRIPT_FONTS

    _, page = _get(base_url + f"/?lang={lang}")  # the English page's switch says "বাংলা"
    for font in SCRIPT_FONTS:
        # inline (a data: URL: the page works as one saved file), for the script's characters
        m = re.search(
            r'src:url\("?data:font/[a-z0-9]+;base64,([A-Za-z0-9+/=]+)"?\)[^}]*'
            + re.escape(f"unicode-range:{font.unicode_range()}"),
            page,
        )
        assert m, font
        import io

        cmap = TTFont(io.BytesIO(base64.b64decode(m[1]))).getBestCmap()
        assert ord("ক") in cmap and ord("।") in cmap and ord("৮") in cmap
    # the language switch is buttons, each language named in itself
    assert 'data-lang="bn" lang="bn">বাংলা</button>' in page


_NO_LAZY_IMPORT = """
import http.server, json, sys, threading, urllib.error, urllib.request
from gradguard.serve import make_server

def get(url):
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"x")
    def log_message(self, *args):
        pass

plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)  # warm the client side
threading.Thread(target=plain.serve_forever, daemon=True).start()
get(f"http://127.0.0.1:{plain.server_address[1]}/")
server = make_server(0)
threading.Thread(target=server.serve_forever, daemon=True).start()
before = set(sys.modules)
base = f"http://127.0.0.1:{server.server_address[1]}"
statuses = set()
for lang in ("en", "bn"):
    for q in sys.argv[1:]:
        statuses.add(get(f"{base}/api/lesson?lang={lang}&{q}")[0])
    statuses.add(get(f"{base}/?lang={lang}")[0])
print(json.dumps({"new": sorted(set(sys.modules) - before), "statuses": sorted(statuses)}))
"""


def test_no_request_imports_a_module_after_the_server_starts():
    """Deterministic half of the burst test: the request path imports nothing lazily.

    A module first imported while requests are answered in threads is what raced; here,
    in a fresh process, every kind of request after ``make_server`` adds no module.
    """
    import subprocess
    import sys

    queries = [
        "w=2&T=5", "w=0.9&T=300", "w=1.01&T=10000", "w=-1.5&h0=3&T=12", "w=1", "w=0",
        "w=3/2&T=40", "w=x", "T=0", "eta=-1", "c=0", "zz=1", "w=nan", "T=10000000",
    ]  # fmt: skip
    r = subprocess.run(
        [sys.executable, "-c", _NO_LAZY_IMPORT, *queries],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["statuses"] == [200, 400]
    assert result["new"] == []


def test_negative_and_fractional_bases_and_factors_in_parentheses():
    # 1·-1.5^4 would read −5.0625 and 1/3^2 reads 1/9 at any w: the lesson's rule, here too
    s = explorer_state({"w": "-1.5", "T": "5"})
    assert s["backward"]["symbolic"].startswith("1·(-1.5)^4 + (-1.5)·(-1.5)^3 + 2.25·(-1.5)^2")
    assert s["forward"][1] == "h_2 = (-1.5) × (-1.5) = 2.25"
    assert "-1.5^" not in s["backward"]["symbolic"]
    s = explorer_state({"w": "2/3", "T": "3"})
    assert s["backward"]["symbolic"] == "1·(2/3)^2 + 2/3·(2/3)^1 + 4/9·(2/3)^0"
    s = explorer_state({"w": "-1.5", "T": "2", "eta": "0.7"})
    assert s["backward"]["values"] == "(-1.5) + (-1.5)"
    assert "= -1.5 − 0.7 × (-3) = 0.6." in s["sgd"]["text"]
    assert explorer_state({"w": "2", "T": "3"})["backward"]["symbolic"] == "1·2^2 + 2·2^1 + 4·2^0"


def test_values_are_shown_as_the_lesson_and_the_report_show_them():
    # w = 0.9, T = 9: w − η·g = 0.8612579511 (a 21-digit fraction), exact in every medium
    from gradguard.explain import lesson, render_text
    from gradguard.report import build_report

    s = explorer_state({"w": "0.9", "T": "9"})
    assert s["sgd"]["w_new"] == s["clip"]["w_new"] == "0.8612579511"
    assert "|w| = 0.8612579511 < 1" in s["sgd"]["text"]
    assert "|w| = 0.8612579511 < 1" in render_text(lesson(w="0.9", T=9))
    page = re.sub(r"<[^>]+>", "", build_report(w="0.9", T=9, sgd={}))
    assert "|w| = 0.8612579511 &lt; 1" in page
    # a long fraction: the same rounded decimal as the lesson (≈ 0.30476, not ≈ 0.3048)
    s = explorer_state({"w": "0.5", "T": "5"})
    assert "gradient is ≈ 0.30476 at the new w" in s["sgd"]["text"]
    assert "gradient is ≈ 0.30476 at the new w" in render_text(lesson(w="0.5"))
