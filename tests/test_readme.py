"""The README's examples run, so they never rot: the config block and the user factory."""

import re

from conftest import ROOT, hpcevo

from hpcevo.config import load_config

README = (ROOT / "README.md").read_text()


def _block(lang, after):
    """The first fenced block of `lang` after the heading `after`."""
    section = README[README.index(after):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_readme_config_block_is_valid(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(_block("toml", "## Configuration"))
    config = load_config(path)
    assert (config.islands, config.population, config.generations) == (8, 100, 200)
    assert config.per_island == {"mutpb": [0.05, 0.1, 0.2, 0.4]} and config.island_params(5)["mutpb"] == 0.1
    assert config.problem == "trading" and config.problem_options == {"data": "sp500+nasdaq", "folds": 5}


def test_readme_config_block_runs(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text(_block("toml", "## Configuration"))
    run = hpcevo(["--config", path, "--islands", 2, "--population", 12, "--generations", 2, "--quiet",
                  "--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "strategies.csv").read_text().count(",nasdaq,") >= 2


def test_readme_user_factory_runs(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "problems.py").write_text(_block("python", "## Extending"))
    run = hpcevo(["run", "--problem", "mypkg.problems:make_toolbox", "-O", "length=20", "--generations", 4,
                  "--population", 12, "--quiet", "--out", tmp_path / "r"], ranks=2,
                 env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "hall_of_fame.json").exists()
