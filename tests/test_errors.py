"""Input errors: one validation module, library names, one flag map, told in English or Bengali."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard._validate import check_choice, check_threshold, check_whole, check_whole_list
from gradguard.cli import main
from gradguard.cli._app import FLAGS, app
from gradguard.errors import FileError, InputError
from gradguard.experiments._executors import ExecutorUnavailable
from gradguard.experiments._runner import GridFailed, RemediesInterrupted
from gradguard.experiments._summary_io import SummaryError
from gradguard.explain import lesson
from gradguard.records import RecordError
from gradguard.report._inputs import InputFileError


@pytest.mark.parametrize(
    ("call", "english"),
    [
        (lambda: check_whole("0", "T"), "T must be a whole number ≥ 1, got '0'."),
        (lambda: check_whole(True, "T"), "T must be a whole number ≥ 1, got True."),
        (lambda: check_whole(2.5, "T"), "T must be a whole number ≥ 1, got 2.5."),
        (lambda: check_whole("9" * 31, "T"), "with at most 30 digits"),
        (lambda: check_whole(0, "T", 1, 10_000), "a whole number from 1 to 10,000, got 0."),
        (lambda: check_whole(10_001, "T", 1, 10_000), "from 1 to 10,000, got 10001."),
        (lambda: check_choice("pdf", "format", ("text", "json")), "one of text, json, got 'pdf'."),
        (lambda: check_whole_list("5,,10", "Ts"), "Ts must be a comma-separated list"),
        (lambda: lesson(T=0), "T must be a whole number ≥ 1, got 0."),
        (lambda: lesson(eta="-1"), "eta must be a number > 0, got '-1'."),
        (lambda: lesson(c=0), "c must be a finite number > 0 (the clipping threshold), got 0."),
        (lambda: lesson(abbreviate="x"), "abbreviate must be a whole number ≥ 1 or None, got 'x'."),
    ],
)
def test_messages_name_the_library_parameter(call, english):
    with pytest.raises(InputError) as e:
        call()
    assert english in str(e.value)
    bn = e.value.message("bn")
    assert bn.startswith(e.value.argument + "-এর মান ") and bn.endswith("।")
    if isinstance(e.value.value, str):
        assert repr(e.value.value) in bn  # the value as the user typed it
    # the value and the parameter stay as typed; the words are Bengali
    assert not re.search(r"\b(must|whole|number|got|one of)\b", bn), bn


def test_checks_accept_what_they_should():
    assert check_whole(" 1_000 ", "T") == 1000 and check_whole(7, "T", 1, 7) == 7
    assert check_whole_list("5, 10,20") == [5, 10, 20] and check_whole_list((1, 2)) == [1, 2]
    assert check_choice("bn", "lang", ("en", "bn")) == "bn"


def test_free_text_rules_stay_english_in_every_language():
    e = InputError("max_norm", -1, "a finite number > 0")
    assert e.rule_id is None and e.message("bn") == str(e) == (
        "max_norm must be a finite number > 0, got -1."
    )


def test_renamed_keeps_the_rule_and_the_hint():
    e = InputError("T", 10**6, "lesson_T", "lesson_use_table", max=100_000)
    flag = e.renamed("--steps")
    assert str(flag).startswith("--steps must be at most 100,000 for the lesson")
    assert flag.message("bn").startswith("--steps-এর মান পাঠের জন্য সর্বোচ্চ 100,000")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["explain", "--steps", "0"],
            "gradguard: error: --steps must be a whole number ≥ 1, got '0'.",
        ),
        (["explain", "--lr", "0"], "gradguard: error: --lr must be a number > 0, got '0'."),
        (["clip", "--c", "0"], "gradguard: error: --c must be a finite number > 0"),
        (["sgd", "--clip", "0"], "gradguard: error: --clip must be a finite number > 0"),
        (["table", "--lang", "xx"], "gradguard: error: --lang must be one of en, bn, got 'xx'."),
    ],
)
def test_cli_names_its_flags_in_english(capsys, args, line):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["explain", "--lang", "bn", "--steps", "0"], "gradguard: ভুল: --steps-এর মান 1 বা তার বেশি"),
        (["explain", "--lang", "bn", "--clip", "-1"], "gradguard: ভুল: --clip-এর মান 0-এর চেয়ে বড়"),
        (["table", "--lang", "bn", "--mode", "half"], "gradguard: ভুল: --mode-এর মান exact, float64"),
        (["report", "--lang", "bn", "--w", "abc"], "gradguard: ভুল: --w-এর মান একটি সসীম সংখ্যা"),
    ],
)
def test_cli_errors_in_bengali_with_lang_bn(capsys, args, start):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1
    assert not re.search(r"\b(must|whole|number|got)\b", err), err


def test_one_flag_map_names_real_flags():
    flags = {opt for cmd in app.registered_commands for p in _params(cmd) for opt in p}
    assert set(FLAGS.values()) <= flags, set(FLAGS.values()) - flags


def _params(cmd) -> list[list[str]]:
    import inspect

    out = []
    for p in inspect.signature(cmd.callback).parameters.values():
        info = p.default
        decls = getattr(info, "param_decls", None)
        if decls:
            out.append([d for d in decls if d.startswith("--")])
    return out


def test_help_lists_commands_in_the_story_order(capsys):
    assert main(["--help"]) == 0
    names = re.findall(r"^│ (\w+) ", capsys.readouterr().out, re.M)
    # the lab, the remedies measured, the guard, then what shows it all
    story = "explain table sgd clip flow remedies replay report serve tour".split()  # noqa: SIM905
    assert [n for n in names if n in story] == story


def test_explorer_answers_bad_input_in_the_page_language():
    import json
    import threading
    import urllib.error
    import urllib.request

    from gradguard.serve import make_server

    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = server.server_address[1]
        answers = {}
        for lang in ("en", "bn"):
            url = f"http://127.0.0.1:{port}/api/lesson?T=0&lang={lang}"
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url, timeout=10)
            assert e.value.code == 400
            answers[lang] = json.loads(e.value.read())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert answers["en"]["error"] == "T must be a whole number from 1 to 10,000, got '0'."
    bn = answers["bn"]["error"]
    assert bn == "T-এর মান 1 থেকে 10,000-এর মধ্যে একটি পূর্ণসংখ্যা হতে হবে, কিন্তু পাওয়া গেছে '0'।"
    assert answers["bn"]["argument"] == "T"


def test_size_rules_read_as_whole_sentences_in_bengali(capsys):
    assert main(["table", "--lang", "bn", "--steps", "100000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradguard: ভুল: --steps-এর মান এতটা ছোট হতে হবে যে টেবিলের সারির")
    assert "1,000,000টি অঙ্ক" in err and "পাওয়া গেছে 100000000।" in err


def test_a_rule_without_its_fields_is_a_programming_error():
    with pytest.raises(TypeError, match="needs the field 'min'"):
        InputError("T", 0, "whole")


def test_trainer_callback_settings_are_told_in_bengali():
    # The integrations' refusals are rule ids: told in Bengali with the argument and value,
    # no English phrase left (the rule's own words, the options listed as code).
    from gradguard.integrations._common import check_options

    with pytest.raises(InputError) as sync:
        check_options("Lightning", {"sync": False})
    assert sync.value.rule_id == "callback_sync"
    assert str(sync.value).startswith("sync must be True (the callback reads")
    bn = sync.value.message("bn")
    assert bn.startswith("sync-এর মান True হতে হবে, কিন্তু পাওয়া গেছে False") and "callback" in bn
    with pytest.raises(InputError) as unknown:
        check_options("Lightning", {"max_norm": 1.0})
    english, bengali = str(unknown.value), unknown.value.message("bn")
    assert english.startswith("option must be one of the Lightning SpikeGuardCallback's options: ")
    assert "spike_rule" in english and "spike_rule" in bengali and "বিকল্পগুলোর" in bengali
    assert "must be" not in bengali and "'max_norm'" in bengali


def _caught(call):
    try:
        call()
    except InputError as e:
        return e
    return None


_values = st.one_of(
    st.integers(-(10**40), 10**40), st.floats(allow_nan=True), st.text(max_size=12), st.none()
)


@settings(max_examples=60, deadline=None)
@given(value=_values, name=st.text(min_size=1, max_size=8), lo=st.integers(-5, 5))
def test_errors_survive_pickle_as_a_process_pool_sends_them(value, name, lo):
    """A worker's error comes back whole: same class, parts and words in every language."""
    errors = [
        _caught(lambda: check_whole(value, name, lo)),
        _caught(lambda: check_choice(value, name, ("text", "json"))),
        _caught(lambda: check_threshold(value, name)),
        InputError(name, value, "free text, not a rule id", "and a free hint"),
    ]
    for error in [e for e in errors if e is not None]:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is InputError
        assert (back.argument, back.rule_id, back.hint_id, back.fields) == (
            error.argument, error.rule_id, error.hint_id, error.fields
        )  # fmt: skip
        assert repr(back.value) == repr(error.value)  # (nan != nan)
        for lang in ("en", "bn"):
            assert back.message(lang) == error.message(lang)
        assert str(back) == str(error)
        for cls in (FileError, RecordError, SummaryError, InputFileError):
            wrapped = cls(f"{name}:3", "bad_step", error)
            again = pickle.loads(pickle.dumps(wrapped))
            assert type(again) is cls and again.where == wrapped.where
            assert again.message("bn") == wrapped.message("bn") and str(again) == str(wrapped)


def test_the_grids_errors_survive_pickle():
    unreachable = ExecutorUnavailable("dask", "tcp://h:1", OSError(111, "refused"))
    back = pickle.loads(pickle.dumps(unreachable))
    assert (back.engine, back.address, str(back)) == ("dask", "tcp://h:1", str(unreachable))
    failed = pickle.loads(pickle.dumps(GridFailed([], [("run0", "boom")])))
    assert failed.failures == [("run0", "boom")] and str(failed) == "1 run(s) failed: boom"
    stopped = pickle.loads(pickle.dumps(RemediesInterrupted([])))
    assert stopped.rows == [] and str(stopped) == "interrupted after 0 finished runs"
