"""The command line: a user's mistake is one line on stderr and exit status 2; fast mode is the --fast flag only."""
import pytest

from dvae_tutorial import __main__ as cli
from dvae_tutorial import config


def _one_line_error(capsys, argv, command: str, expected: str) -> None:
    with pytest.raises(SystemExit) as stop:   # argparse's own errors exit; the commands' errors return 2
        raise SystemExit(cli.main(argv))
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"dvae-tutorial {command}: error: ") and expected in err, err


def test_negative_weight_is_one_line_and_status_2(capsys, tmp_path):
    _one_line_error(capsys, ["train", "--method", "betavae", "--beta", "-1", "--out", str(tmp_path)],
                    "train", "beta must be")
    assert not any(tmp_path.iterdir())      # refused before any work


def test_unknown_method_and_unknown_metric(capsys, tmp_path):
    _one_line_error(capsys, ["train", "--method", "nope", "--out", str(tmp_path)], "train", "invalid choice: 'nope'")
    _one_line_error(capsys, ["evaluate", str(tmp_path), "--metrics", "mig,nope"], "evaluate", "unknown metric nope")


def test_missing_folder_and_corrupt_checkpoint(capsys, tmp_path):
    _one_line_error(capsys, ["evaluate", str(tmp_path / "nothing")], "evaluate", "no checkpoint at")
    (tmp_path / "checkpoint.pt").write_bytes(b"not a torch file")
    _one_line_error(capsys, ["evaluate", str(tmp_path)], "evaluate", "cannot be read by torch as a checkpoint")


@pytest.mark.parametrize("name", ["dsprites.npz", "dsprites.hdf5", "absent.npz"])
def test_unreadable_data_file(capsys, tmp_path, name):
    path = tmp_path / name
    if not name.startswith("absent"):
        path.write_bytes(b"garbage, not a data file")
    _one_line_error(capsys, ["train", "--method", "vae", "--data-file", str(path), "--out", str(tmp_path / "run"),
                             "--no-progress"], "train", str(path))


def test_unknown_recipe(capsys):
    _one_line_error(capsys, ["pretrained", "build", "nope"], "pretrained", "unknown recipe 'nope'")


def _resolved(argv):
    args, _ = cli.resolve_train_args(cli.build_parser().parse_args(argv))
    return args


def test_the_environment_does_not_make_train_fast(monkeypatch):
    monkeypatch.setenv("DVAE_TUTORIAL_FAST", "1")
    assert config.FAST and config.pick("fast", "full") == "fast"     # the lessons' switch sees it ...
    args = _resolved(["train", "--method", "vae", "--out", "unused"])
    assert (args.steps, args.dataset) == (20000, "dsprites")          # ... the command line does not
    args = _resolved(["train", "--method", "vae", "--out", "unused", "--fast"])
    assert (args.steps, args.dataset) == (100, "dsprites-small")
    args = _resolved(["train", "--method", "vae", "--out", "unused", "--fast", "--steps", "7"])
    assert args.steps == 7                                            # explicit flags still win
    monkeypatch.delenv("DVAE_TUTORIAL_FAST")
    assert not config.FAST and config.pick("fast", "full") == "full"  # read when asked, not frozen at import
