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
