"""The README and docs/ stay true: every relative link (and anchor) resolves, every Python block runs, and the
README's test command is the one .ci/run runs.

A ```python block whose first line starts with `# not run:` is a fragment, left out; every other one runs in a
fresh interpreter (warnings as errors), in an empty folder, at the small sizes written in it; docs/api.md's
mpiexec script also runs on 2 ranks. tests/test_readme.py runs the config
block and the factory of docs/configuration.md and docs/extending.md as a user would.
"""

import os
import re
import subprocess
import sys

import pytest
from conftest import MPIEXEC, ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NOT_RUN = "# not run:"


def _page(path):
    return path.relative_to(ROOT).as_posix()


def _prose(text):
    """`text` without fenced blocks and code spans, where brackets are not links."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of a Markdown file's headings (repeats get -1, -2, ... as on GitHub)."""
    found, seen = set(), {}
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = _slug(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links():
    for page in PAGES:
        for target in LINK.findall(_prose(page.read_text())):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked here
                yield page, target


def python_blocks():
    """(page, line, code) of every ```python block in the README and docs/ that is meant to run."""
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            code = match.group(2)
            if match.group(1) == "python" and not code.lstrip().startswith(NOT_RUN):
                yield page, text.count("\n", 0, match.start()) + 1, code


BLOCKS = list(python_blocks())


@pytest.mark.parametrize("page, target", list(relative_links()), ids=lambda v: v if isinstance(v, str) else _page(v))
def test_relative_link_resolves(page, target):
    file, _, anchor = target.partition("#")
    path = (page.parent / file).resolve() if file else page
    assert path.exists(), f"{_page(page)} links to {target}: {path} does not exist"
    if anchor and path.suffix == ".md":
        assert anchor in anchors(path), f"{_page(page)} links to {target}: no heading with that anchor in {path.name}"


def test_the_docs_have_links_and_blocks_to_check():
    pages_with_links = {page for page, _ in relative_links()}
    assert ROOT / "README.md" in pages_with_links and len(pages_with_links) >= 5
    ran_from = {_page(page) for page, _, _ in BLOCKS}
    assert {"README.md", "docs/api.md"} <= ran_from, ran_from
    api = (ROOT / "README.md").read_text().split("## The Python API", 1)[1].split("\n## ", 1)[0]
    assert len(FENCE.findall(api)) >= 2  # the README's API section and "Bring your DEAP script"


def test_slugs_follow_github():
    assert _slug("Options (`-O KEY=VALUE` or `[problem_options]`)") == "options--o-keyvalue-or-problem_options"
    assert _slug("Is it skill or luck?") == "is-it-skill-or-luck"
    assert _slug("Is it skill or luck: the statistics") == "is-it-skill-or-luck-the-statistics"


@pytest.mark.parametrize("page, line, code", BLOCKS, ids=[f"{_page(p)}:{n}" for p, n, _ in BLOCKS])
def test_python_block_runs(page, line, code, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(code)
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    try:
        done = subprocess.run([sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the block at {_page(page)}:{line} did not finish within 240 s")
    assert done.returncode == 0, f"the block at {_page(page)}:{line} failed:\n{done.stdout[-2000:]}\n{done.stderr}"


@pytest.mark.slow
def test_the_mpiexec_script_gives_the_serial_result(tmp_path):
    """docs/api.md's islands.py: `mpiexec -n 2 python islands.py` prints what `python islands.py` prints."""
    code = next(code for page, _, code in BLOCKS if code.startswith("# islands.py"))
    (tmp_path / "islands.py").write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": "120"}
    serial = subprocess.run([sys.executable, "islands.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=130)
    if MPIEXEC is None:
        pytest.fail("mpiexec not found: install the test extras (pip install -e '.[mpich,test]')")
    ranks = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "islands.py"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=130)
    assert serial.returncode == 0 and ranks.returncode == 0, serial.stderr + ranks.stderr
    assert ranks.stdout == serial.stdout and serial.stdout.startswith("(")


def _readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands on a fresh machine", 1)[1]
    block = [code for lang, code in FENCE.findall(section) if lang == "bash"][1].strip()
    return block.split(". .venv/bin/activate && ", 1)[1]


def test_readme_test_command_is_the_one_ci_runs():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    ci = [line for line in lines if line and not line.startswith("#")][-1]
    assert _readme_test_command() == ci == (
        "python -m pytest && mpiexec -n 4 python -m pytest --with-mpi -m mpi tests/test_mpi.py -q")


def test_readme_names_the_fast_tier():
    assert 'python -m pytest -m "not mpi and not slow"' in (ROOT / "README.md").read_text()


def test_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    linked = {target.partition("#")[0] for target in LINK.findall(_prose(readme))}
    missing = [_page(p) for p in PAGES[1:] if _page(p) not in linked]
    assert not missing, f"README.md does not link {missing}"

