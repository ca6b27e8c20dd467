"""Stand-in for the get-pip.py that ansible-test bootstraps its sanity venvs with.

ansible-test downloads get-pip.py from its own CI file host, which these
machines cannot reach (only PyPI is). It runs the script with pip's install
arguments (``pip==X`` and friends); this stand-in gives the empty venv pip from
the standard library's ensurepip and then installs exactly what was asked
for from PyPI. `make sanity` copies it to the cache path ansible-test looks at.
"""

import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)


if __name__ == "__main__":
    main()
