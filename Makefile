# climseg: the two commands of the README, and the environment they share.
#
#   make demo    # set up .venv if needed, then run the whole workflow on generated demo data
#   make test    # set up .venv if needed, then run the test suite
#
# GPU machines: TF_PACKAGE=tensorflow make test   (the CUDA build of TensorFlow instead of tensorflow-cpu)

VENV       := .venv
TF_PACKAGE ?= tensorflow-cpu
STAMP      := $(VENV)/.bootstrapped-$(TF_PACKAGE)
BIN        := $(CURDIR)/$(VENV)/bin
CORES      ?= 2

.PHONY: demo test venv bench clean-demo

$(STAMP): requirements.txt pyproject.toml scripts/bootstrap.sh
	TF_PACKAGE=$(TF_PACKAGE) scripts/bootstrap.sh
	rm -f $(VENV)/.bootstrapped-*
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(BIN):$$PATH" snakemake --profile profiles/local --cores $(CORES)

test: $(STAMP)
	PATH="$(BIN):$$PATH" pytest -q --durations=15

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; PATH="$(BIN):$$PATH" python $$b || exit 1; done

clean-demo:
	rm -rf results .snakemake
