"""tests/tooling/stages.sh: the table of stage times, and the lines naming why a stage failed, at the end
of its output (CI shows only the end of a run's output)."""
import os
import stat
import subprocess
from pathlib import Path

STAGES = Path(__file__).resolve().parents[2] / "tests" / "tooling" / "stages.sh"

FAKE_MAKE = r"""#!/usr/bin/env bash
# A stand-in for make: the last argument is the stage.
stage=${@: -1}
case $stage in
  good) echo "all fine"; exit 0 ;;
  ignored) printf 'fatal: [n1]: FAILED! => {"msg": "expected refusal"}\n...ignoring\nok: [n1]\n'; exit 0 ;;
  bad)
    printf 'TASK [a task that is meant to fail]\n'
    printf 'fatal: [n1]: FAILED! => {"msg": "a refusal the test wanted"}\n...ignoring\n'
    printf 'fatal: [n2]: FAILED! => {"msg": "the real cause"}\n\nPLAY RECAP\n'
    printf 'molecule/default/tests/test_faults.py::test_x PASSED\n'
    printf 'FAILED molecule/default/tests/test_faults.py::test_y - AssertionError: counters\n'
    printf 'CRITICAL Ansible return code was 2\n'
    exit 2 ;;
  quiet) for i in $(seq 1 20); do echo "line $i"; done; exit 3 ;;
esac
"""


def run(tmp_path, *stages):
    make = tmp_path / "make"
    make.write_text(FAKE_MAKE)
    make.chmod(make.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, MAKE=str(make), STAGE_LOGS=str(tmp_path / "logs"), STAGE_JOBS="2")
    env.pop("PREFETCH_TIMES", None)
    return subprocess.run(["bash", str(STAGES), *stages], env=env, capture_output=True, text=True, timeout=60, check=False)


def tail_after_table(out):
    return out.split("===== make test: time per stage =====", 1)[1]


def test_a_failed_member_is_explained_after_the_table(tmp_path):
    res = run(tmp_path, "good", "good,bad,ignored")
    assert res.returncode == 2
    tail = tail_after_table(res.stdout)
    assert "===== why bad failed" in tail
    why = tail.split("===== why bad failed", 1)[1].splitlines()[1:]
    assert why == [
        'fatal: [n2]: FAILED! => {"msg": "the real cause"}',
        "FAILED molecule/default/tests/test_faults.py::test_y - AssertionError: counters",
        "CRITICAL Ansible return code was 2",
    ]
    # Members that passed, ignored failures included, are not explained.
    assert "why good" not in tail and "why ignored" not in tail
    assert "a refusal the test wanted" not in tail


def test_a_log_with_no_known_cause_shows_its_last_lines(tmp_path):
    res = run(tmp_path, "good,quiet")
    assert res.returncode == 3
    why = tail_after_table(res.stdout).split("===== why quiet failed", 1)[1].splitlines()[1:]
    assert why == ["line %d" % i for i in range(13, 21)]


def test_a_green_run_explains_nothing(tmp_path):
    res = run(tmp_path, "good", "good,ignored")
    assert res.returncode == 0
    assert "===== why" not in res.stdout
