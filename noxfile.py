"""Test matrix: one session per backend, plus the distributed tests, the slow runs and lint.

    nox                                           # tests-numpy, tests-array_api_strict, lint
    nox -s tests-torch                            # pip, so it finds the local torch wheel
    nox -s tests-cupy                             # skips cleanly (exit 0) without a GPU
    nox -s tests-dist                             # MPI: one process, then mpiexec -n 2
    nox -s slow                                   # pytest -m slow: the long runs the other sessions leave out
    nox -s lint

`bash .ci/run` (CI) runs all of them. nox is installed by `pip install -e ".[test]"`.

uv creates the environments when it is installed (much faster); pip otherwise.
"""

import os
import shutil

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests-numpy", "tests-array_api_strict", "lint"]

BACKEND_EXTRAS = {
    "numpy": [],
    "array_api_strict": [],
    # uv does not see the torch wheel that lies on disk; pip does
    "torch": ["torch==2.13.0"],
    "cupy": [],
}


def run_tests(session, backend):
    if backend == "torch" and session.venv_backend == "uv":
        session.install("pip")
        session.run("python", "-m", "pip", "install", "-q", *BACKEND_EXTRAS[backend])
    elif BACKEND_EXTRAS[backend]:
        session.install(*BACKEND_EXTRAS[backend])
    if backend == "cupy" and shutil.which("nvidia-smi"):
        session.install("cupy-cuda13x")
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "--backend", backend, "-q", *session.posargs)


def _backend_session(backend):
    def session_function(session):
        run_tests(session, backend)

    session_function.__doc__ = f"Run the test suite on the {backend} backend."
    return nox.session(name=f"tests-{backend}")(session_function)


for _backend in BACKEND_EXTRAS:
    _backend_session(_backend)


@nox.session(name="tests-dist")
def tests_dist(session):
    """The distributed tests: one process, then a job of two ranks under MPICH's mpiexec."""
    session.install("-e", ".[test,dist]")
    session.run("python", "-m", "pytest", "-q", "tests/test_distributed.py", "tests/test_distributed_sampler.py")
    # bounded where coreutils' timeout exists: ranks that disagree must not hang CI
    bounded = ["timeout", "600"] if shutil.which("timeout") else []
    session.run(*bounded, "mpiexec", "-n", "2", "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "tests/test_distributed.py", external=True)


@nox.session
def slow(session):
    """The tests marked slow (the README's full-size commands, accuracy targets), on the default backend."""
    session.install("-e", ".[test,dist]")
    session.run("python", "-m", "pytest", "-q", "-m", "slow", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "polygrad", "tests", "benchmarks", "noxfile.py")


@nox.session
def fuzz(session):
    """The differential fuzzer's larger run: 500 random programs per backend case against torch
    (POLYGRAD_FUZZ_PROGRAMS overrides; the default test run takes 12)."""
    session.install("pip")
    session.run("python", "-m", "pip", "install", "-q", *BACKEND_EXTRAS["torch"])
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", "tests/test_fuzz.py", *session.posargs,
                env={"POLYGRAD_FUZZ_PROGRAMS": os.environ.get("POLYGRAD_FUZZ_PROGRAMS", "500")})
