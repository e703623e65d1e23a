# hangar-git developer entry points.
#
#   make demo    install everything, run examples/tutorial.py (the whole workflow)
#   make test    install everything, run the test suite (starts its own sshd)
#   make bench   run the benchmarks (python -m bench)
#
# Variables: PYTHON (interpreter for the venv, default python3),
# PYTEST_ARGS (e.g. PYTEST_ARGS='--slow -x'), BENCH_ARGS, N (rows for bench-stock).

PYTHON      ?= python3
VENV        := .venv
VENV_PY     := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
VENV_PAGE   := $(VENV)/share/man/man1/git-hangar.1
PYTEST_ARGS ?=
BENCH_ARGS  ?=
N           ?= 100000

# Debian packages the tests and the demo need (sshd for the SSH transport tests).
APT_ENV     := DEBIAN_FRONTEND=noninteractive

.PHONY: all sysdeps venv demo test bench bench-stock clean
.NOTPARALLEL:

all: test

# System packages: a no-op when they are present; installs them with apt-get
# when we are root; otherwise says what is missing.
sysdeps:
	@missing=""; \
	command -v git >/dev/null 2>&1 || missing="$$missing git"; \
	test -x /usr/sbin/sshd || missing="$$missing openssh-server"; \
	{ command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1; } || missing="$$missing openssh-client"; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "missing system packages:$$missing -- install them (as root: make sysdeps)" >&2; exit 1; \
	fi; \
	echo "installing system packages:$$missing"; \
	apt-get update -qq && \
	$(APT_ENV) apt-get install -y -qq --no-install-recommends $$missing >/dev/null

venv: $(STAMP) $(VENV_PAGE)

# An editable install skips setup.cfg's data_files: the man page (for `git hangar --help`)
# and the completion scripts go where `pip install .` puts them.
$(VENV_PAGE): $(STAMP) $(wildcard share/*/* share/*/*/*)
	mkdir -p $(VENV)/share && cp -R share/. $(VENV)/share/

# Re-installs only when setup.cfg, pyproject.toml or this recipe changed since the last install.
# editable_mode=compat: a .pth line naming this directory, as a plain install finds its
# package; the default import hook costs every Python start here 10 ms (pathlib and more),
# a third of `python -c pass` and of `git-hangar serve`'s start-up on each SSH operation.
# The torch and tensorflow extras are installed so that the DataLoader and tf.data tests
# run (CPU builds); images (Pillow) for the image importer's tests.
$(STAMP): setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q --disable-pip-version-check -e '.[test,torch,images,tensorflow]' \
		--config-settings editable_mode=compat
	$(VENV_PY) -m compileall -q hangar_git >/dev/null
	@touch $@

demo: sysdeps venv
	@test -f examples/tutorial.py || { echo "examples/tutorial.py does not exist yet" >&2; exit 1; }
	$(VENV_PY) examples/tutorial.py

test: sysdeps venv
	$(VENV_PY) -m pytest -n 2 -q $(PYTEST_ARGS)

bench: sysdeps venv
	$(VENV_PY) -m bench $(BENCH_ARGS)

# The baseline: the same workloads on stock Hangar 0.5.2, in its own venv.
bench-stock:
	bash bench/stock_hangar/setup.sh
	bench/.stock-venv/bin/python bench/stock_hangar/workloads.py $(N)

clean:
	rm -rf $(VENV) bench/.stock-venv build dist *.egg-info
