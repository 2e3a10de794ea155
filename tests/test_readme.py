"""The examples the README points to run, so they never rot: the config block of docs/configuration.md and the
user factory of docs/extending.md (tests/test_docs.py runs every other Python block)."""

import re

import pytest
from conftest import ROOT, hpcevo

from hpcevo.config import load_config


def _block(page, lang, after):
    """The first fenced block of `lang` after the heading `after` in docs/`page`."""
    text = (ROOT / "docs" / page).read_text()
    section = text[text.index(after):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_config_block_is_valid(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(_block("configuration.md", "toml", "## The config file"))
    config = load_config(path)
    assert (config.islands, config.population, config.generations) == (8, 100, 200)
    assert config.per_island == {"mutpb": [0.05, 0.1, 0.2, 0.4]} and config.island_params(5)["mutpb"] == 0.1
    assert config.problem == "trading" and config.problem_options == {"data": "sp500+nasdaq", "folds": 5}


@pytest.mark.slow
def test_config_block_runs(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(_block("configuration.md", "toml", "## The config file"))
    run = hpcevo(["--config", path, "--islands", 2, "--population", 12, "--generations", 2, "--quiet",
                  "--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "strategies.csv").read_text().count(",nasdaq,") >= 2


@pytest.mark.slow
def test_user_factory_runs(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "problems.py").write_text(_block("extending.md", "python", "## Your own DEAP problem"))
    run = hpcevo(["run", "--problem", "mypkg.problems:make_toolbox", "-O", "length=20", "--generations", 4,
                  "--population", 12, "--quiet", "--out", tmp_path / "r"], ranks=2,
                 env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "hall_of_fame.json").exists()
