"""The CLI shell: one-line usage errors that echo the bad value, exit codes, --version."""

import pytest

from gradguard import __version__
from gradguard.cli import main


@pytest.mark.parametrize(
    "args, value",
    [
        (["flow", "--hidden", "x"], "'x'"),
        (["flow", "--hidden=x"], "'x'"),
    ],
)
def test_type_errors_echo_the_value(capsys, args, value):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradguard: error: ")
    assert "--hidden" in err and value in err and "Traceback" not in err


def test_unknown_command_and_option(capsys):
    assert main(["nope"]) == 2
    assert "No such command 'nope'" in capsys.readouterr().err
    assert main(["explain", "--bogus"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --bogus" in err and "gradguard explain --help" in err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gradguard {__version__}"


@pytest.mark.parametrize("command", ["tour", "remedies"])
def test_an_unwritable_out_folder_stops_before_any_work(command, tmp_path, capsys, monkeypatch):
    import errno

    import gradguard._atomic as atomic

    if command == "remedies":
        pytest.importorskip("torch")
        import gradguard.experiments as experiments
        import gradguard.experiments._executors as executors  # check_out_dir's home

    def read_only(folder):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the folder was checked")

    monkeypatch.setattr(atomic, "check_writable", read_only)
    if command == "remedies":
        monkeypatch.setattr(executors, "check_writable", read_only)
        monkeypatch.setattr(experiments, "run_remedies", no_work)
    else:
        import gradguard.cli._report as report

        monkeypatch.setattr(report, "_stage_lesson", no_work)
    assert main([command, "--out", str(tmp_path / "o"), "--lang", "en"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("gradguard: error: --out ") and "Read-only file system" in err, err


def test_ctrl_c_is_one_line_in_the_command_language(capsys, monkeypatch):
    import gradguard.lab as lab

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "explosion_table", interrupted)
    assert main(["table"]) == 130
    assert capsys.readouterr().err == "gradguard: interrupted\n"
    assert main(["table", "--lang", "bn"]) == 130
    assert capsys.readouterr().err == "gradguard: থামানো হয়েছে\n"
    # remedies says what it kept, once, instead
    pytest.importorskip("torch")
    import gradguard.experiments as experiments

    def stopped(*args, **kwargs):
        raise experiments.RemediesInterrupted([])

    monkeypatch.setattr(experiments, "run_remedies", stopped)
    argv = ["remedies", "--no-progress", "--jobs", "1"]
    assert main([*argv, "--lang", "en"]) == 130
    assert capsys.readouterr().err == "gradguard: interrupted; 0 finished run(s) kept\n"
    assert main([*argv, "--lang", "bn"]) == 130
    assert capsys.readouterr().err.count("\n") == 1


#: Every option with two spellings that takes a value, and a value it refuses (fast: each
#: is refused before any work; `remedies`/`tour` check --jobs and T before training).
TWO_SPELLINGS = [
    ("explain", ("--steps", "-T"), "0"),
    ("explain", ("--format", "-f"), "xml"),
    ("table", ("--steps", "-T"), "0"),
    ("sgd", ("--steps", "-T"), "0"),
    ("sgd", ("--iters", "-n"), "0"),
    ("report", ("--steps", "-T"), "0"),
    ("flow", ("--T", "-T"), "0"),
    ("remedies", ("--T", "-T"), "0"),
    ("remedies", ("--jobs", "-j"), "0"),
    ("tour", ("--jobs", "-j"), "0"),
]


@pytest.mark.parametrize(("command", "spellings", "bad"), TWO_SPELLINGS)
def test_an_error_names_the_option_as_the_user_typed_it(capsys, command, spellings, bad):
    # `explain -T 0` said "--steps must be …": the user never typed --steps
    for typed in spellings:
        for args in ([typed, bad], [f"{typed}={bad}"] if typed.startswith("--") else [typed + bad]):
            assert main([command, *args, "--lang", "en"]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"gradguard: error: {typed} must be "), (args, err)


def test_every_option_with_two_spellings_is_checked():
    import typer

    from gradguard.cli import app

    group = typer.main.get_command(app)
    two = {
        (name, frozenset(o for o in (*p.opts, *p.secondary_opts) if o.startswith("-")))
        for name, cmd in group.commands.items()
        for p in cmd.params
        if len(p.opts) + len(p.secondary_opts) > 1 and not getattr(p, "is_flag", False)
    }
    # --out/-o: its errors are about the path typed (checked in the commands' own tests)
    two = {(n, s) for n, s in two if "--out" not in s}
    assert two == {(c, frozenset(s)) for c, s, _ in TWO_SPELLINGS}
