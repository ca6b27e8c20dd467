"""The releases the collection supports, as the lab and the tests see them.

The list itself is platforms.json beside this file (JSON, so that the Makefile can read it with any
Python 3 and no package, and the lab role with Ansible's from_json). Everything else reads it
through here: labtest.py, tests/unit/recordings.py, tests/bench, tests/hcloud and the Makefile,
which asks on the command line:

    python3 molecule/shared/platforms.py lab-suites    # bookworm trixie forky
    python3 molecule/shared/platforms.py default       # trixie

docs/architecture.md ("To add a platform") says which files a new release needs.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIST = os.path.join(HERE, "platforms.json")

with open(LIST, encoding="utf-8") as _handle:
    _DATA = json.load(_handle)

# Every supported release: {"distribution", "codename", "version", "docker", "lab"}.
PLATFORMS = _DATA["platforms"]
# The lab's and the tests' release when LAB_SUITE names none.
DEFAULT_SUITE = _DATA["default"]


def entry(codename):
    """The list's entry of one release, by codename (KeyError if the list has none)."""
    for platform in PLATFORMS:
        if platform["codename"] == codename:
            return platform
    raise KeyError("%s is not in %s" % (codename, LIST))


def lab_suites():
    """The codenames the lab builds nodes of, oldest first."""
    return [platform["codename"] for platform in PLATFORMS if platform["lab"]]


def suite_docker():
    """Each lab suite's Docker Engine major.minor (docker.io), such as {"trixie": "26.1"}."""
    return {platform["codename"]: platform["docker"] for platform in PLATFORMS if platform["lab"]}


def lab_suite():
    """The suite of this run: LAB_SUITE, else the default."""
    return os.environ.get("LAB_SUITE") or DEFAULT_SUITE


def other_suite(suite):
    """The oldest lab suite that is not `suite`: a node of another Docker version beside a lab of `suite`."""
    return [codename for codename in lab_suites() if codename != suite][0]


def engine_facts(codename):
    """The engine role's facts for one release: roles/engine/vars/<distribution>-<codename>.yml (needs PyYAML)."""
    import yaml  # pylint: disable=import-outside-toplevel  # the Makefile's questions need no package

    platform = entry(codename)
    path = os.path.join(REPO, "roles", "engine", "vars", "%s-%s.yml" % (platform["distribution"].lower(), codename))
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def cli_packages(codename):
    """The client packages the engine role installs beside docker.io on `codename` ([] where docker.io has it)."""
    return engine_facts(codename)["engine__platform_cli_packages"]


def distro_packages(codename):
    """docker.io and the client packages beside it on `codename`, as the engine role installs them by default
    (the SDK and AppArmor aside), space-separated for apt-get."""
    return " ".join(["docker.io"] + cli_packages(codename))


def main(argv):
    """Print what the Makefile asks for: lab-suites or default."""
    answers = {"lab-suites": lambda: " ".join(lab_suites()), "default": lambda: DEFAULT_SUITE}
    if len(argv) != 2 or argv[1] not in answers:
        sys.stderr.write("usage: %s %s\n" % (argv[0], "|".join(sorted(answers))))
        return 2
    print(answers[argv[1]]())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
