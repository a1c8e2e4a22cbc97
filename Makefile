# Every target installs what it needs by itself: a fresh machine needs only python3, Python 3.13
# (pyenv has it here) and the package registries. Installed things live in .tools/, .venv/ and .local/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
UV := .tools/bin/uv
export UV_PYTHON := $(PYTHON313)
export UV_PYTHON_DOWNLOADS := never
# uv's cache is its default, per user (~/.cache/uv): every clone and every CI run on a machine shares the
# wheels it has downloaded once. Every install is hash-checked (uv.lock, requirements files with hashes).
export SAM_CLI_TELEMETRY := 0
# The project's venv and the Lambda runtime are compiled to bytecode as they install, as AWS's runtime
# ships boto3: where PYTHONDONTWRITEBYTECODE is set (CI, these machines) every process would otherwise
# compile what it imports again: 1.3 s of each CLI call's 1.9 s, 0.75 s of each Lambda cold start.
# (LocalStack writes its own .pyc: its environment is a clean one.)
RUN := .venv/bin

LOCALSTACK_STAMP := .local/localstack-venv/.installed
RUNTIME_STAMP := .local/lambda-runtime/.installed-compiled
SAM_STAMP := .local/sam-venv/.installed
CHECKOV_STAMP := .local/checkov-venv/.installed
DOCS_STAMP := .local/docs-venv/.installed
PLUGIN_SOURCES := $(shell find infra/localcloud -name '*.py' -o -name pyproject.toml | grep -v /build/)

.PHONY: help demo test lint docs unit integration invoke venv localcloud sam checkov browser speech lock bench clean

help:
	@echo "make demo   start the local cloud, deploy template.yaml and run the pipeline on a generated video"
	@echo "make test   lint, template checks, unit tests and integration tests on a fresh local cloud"
	@echo "make invoke FN=plan EVENT=events/plan/job-with-media.json   run one deployed function (sam local invoke, no Docker)"
	@echo "make docs   build the documentation site from docs/ (strict) and check the README's links"
	@echo "make lock   re-resolve every lock file"

$(UV):
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (looked in ~/.pyenv/versions and PATH)"; exit 1; }
	python3 -m venv .tools
	.tools/bin/pip install --quiet --require-hashes -r infra/tools/uv-requirements.txt

# The project's own environment: the CLI, the domain package and the test tools (uv.lock).
venv: .venv/.installed
.venv/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

# LocalStack's runtime with our plugins, and the interpreter Lambda functions run with.
localcloud: $(LOCALSTACK_STAMP) $(RUNTIME_STAMP)
$(LOCALSTACK_STAMP): $(UV) infra/localstack/requirements.txt $(PLUGIN_SOURCES)
	$(UV) venv --quiet --allow-existing .local/localstack-venv
	$(UV) pip install --python .local/localstack-venv/bin/python --quiet --require-hashes -r infra/localstack/requirements.txt
	$(UV) pip install --python .local/localstack-venv/bin/python --quiet --no-deps --no-build-isolation --reinstall-package reelstack-localcloud ./infra/localcloud
	@rm -rf infra/localcloud/build infra/localcloud/*.egg-info
	@touch $@
$(RUNTIME_STAMP): $(UV) infra/lambda-runtime/requirements.txt
	rm -rf .local/lambda-runtime  # made anew: uv compiles only what it installs
	$(UV) venv --quiet .local/lambda-runtime
	$(UV) pip install --python .local/lambda-runtime/bin/python --quiet --compile-bytecode --require-hashes -r infra/lambda-runtime/requirements.txt
	@touch $@

# The SAM CLI in a venv of its own (its pins clash with the project's), for `sam validate --lint`
# and `reelstack deploy --target aws`.
sam: $(SAM_STAMP)
$(SAM_STAMP): $(UV) infra/tools/sam-requirements.txt
	$(UV) venv --quiet --allow-existing .local/sam-venv
	$(UV) pip install --python .local/sam-venv/bin/python --quiet --require-hashes -r infra/tools/sam-requirements.txt
	@touch $@

# checkov, the template's security policy check, in a venv of its own too (its pins clash with both);
# its configuration, every skip with its reason, is .checkov.yaml.
checkov: $(CHECKOV_STAMP)
$(CHECKOV_STAMP): $(UV) infra/tools/checkov-requirements.txt
	$(UV) venv --quiet --allow-existing .local/checkov-venv
	$(UV) pip install --python .local/checkov-venv/bin/python --quiet --require-hashes -r infra/tools/checkov-requirements.txt
	@touch $@

# The documentation site (MkDocs with the Material theme; the OpenAPI reference rendered by
# neoteroi's OAD plugin) from docs/, in a venv of its own: `make docs` builds it strictly into
# .local/site (a broken link, anchor or missing page fails), and the README's links are checked too.
docs: $(DOCS_STAMP) venv
	NO_MKDOCS_2_WARNING=1 .local/docs-venv/bin/mkdocs build --strict --quiet
	$(RUN)/python infra/tools/check_links.py README.md
$(DOCS_STAMP): $(UV) infra/tools/docs-requirements.txt
	$(UV) venv --quiet --allow-existing .local/docs-venv
	$(UV) pip install --python .local/docs-venv/bin/python --quiet --require-hashes -r infra/tools/docs-requirements.txt
	@touch $@

# Debian's chromium for the web page's browser test (playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium >/dev/null \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update >/dev/null && \
	       $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium >/dev/null; }; }

# Debian's espeak-ng: the speech the generated-captions tests transcribe (known sentences, known times).
speech:
	@command -v espeak-ng >/dev/null || { \
	  echo "installing Debian's espeak-ng"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends espeak-ng >/dev/null \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update >/dev/null && \
	       $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends espeak-ng >/dev/null; }; }

# Node packages (package-lock.json): the ASL validator, hls.js for the web page, Shaka Player for the browser tests.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

demo: venv localcloud node_modules/.installed
	$(RUN)/reelstack local start
	$(RUN)/reelstack deploy
	$(RUN)/reelstack demo

# `sam local invoke` without Docker, on the local cloud (started and deployed by `make demo`):
#   make invoke FN=plan EVENT=events/plan/job-with-media.json [VARS="PASSTHROUGH=off"] [AS_USER=alice]
# (VARS and AS_USER: make itself has AS, and ENV may come from the shell's environment)
invoke: venv localcloud
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> [EVENT=events/<fn>/<case>.json] [VARS=\"K=V ...\"] [AS_USER=<user>]"; exit 2; }
	$(RUN)/reelstack invoke $(FN) $(if $(EVENT),-e $(EVENT)) $(foreach pair,$(VARS),--env $(pair)) $(if $(AS_USER),--user $(AS_USER))

lint: venv sam checkov docs node_modules/.installed
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/cfn-lint template.yaml
	.local/sam-venv/bin/sam validate --lint --template template.yaml --region us-east-1
	.local/checkov-venv/bin/checkov --config-file .checkov.yaml
	# Validated as deployed: once per Map mode that ChunkMapMode may substitute.
	mkdir -p .local && for f in statemachines/*.asl.json; do for mode in INLINE DISTRIBUTED; do \
	  sed 's/$${ChunkMapMode}/'"$$mode"'/' "$$f" > .local/asl-check.json && \
	  node_modules/.bin/asl-validator --json-path .local/asl-check.json || exit 1; done; done

unit: venv
	$(RUN)/pytest tests/unit -q

# Two workers, each with a local cloud of its own, fill the cores while the other waits on its pipeline.
INTEGRATION_WORKERS ?= 2
INTEGRATION := $(RUN)/pytest tests/integration -q -n $(INTEGRATION_WORKERS) --dist loadfile

integration: venv localcloud node_modules/.installed browser speech
	$(INTEGRATION)

# Lint and the unit suite run beside the integration suite: their CPU work fills the cores while the
# integration tests wait on the local cloud. Their reports come after the integration suite's; any failing fails.
# Every test's time is kept in .local/*-tests.xml (JUnit), to see where a suite's minutes go.
test: venv sam checkov node_modules/.installed localcloud browser speech
	@mkdir -p .local
	@$(MAKE) --no-print-directory lint > .local/lint.log 2>&1 & lint=$$!; \
	$(RUN)/pytest tests/unit -q -p no:cacheprovider --durations=10 --junitxml=.local/unit-tests.xml \
	  > .local/unit-tests.log 2>&1 & unit=$$!; \
	$(INTEGRATION) --durations=15 --junitxml=.local/integration-tests.xml; integration=$$?; \
	wait $$lint; lints=$$?; wait $$unit; units=$$?; \
	echo "== lint, which ran beside them (.local/lint.log): exit $$lints =="; tail -n 20 .local/lint.log; \
	echo "== the unit tests, which ran beside them (.local/unit-tests.log) =="; cat .local/unit-tests.log; \
	test $$integration -eq 0 -a $$units -eq 0 -a $$lints -eq 0

bench: venv localcloud node_modules/.installed speech
	$(RUN)/python -m bench $(BENCH)

lock: $(UV)
	$(UV) lock
	$(UV) pip compile -q layers/deps/requirements.in --python-version 3.13 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --custom-compile-command "make lock" -o layers/deps/requirements.txt \
	  $(foreach p,boto3 botocore s3transfer jmespath python-dateutil six urllib3 click editor inquirer jinxed \
	    blessed pip setuptools wheel readchar runs xmod wcwidth pyyaml packaging,--no-emit-package $(p))
	$(UV) pip compile -q layers/speech/requirements.in --python-version 3.13 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --custom-compile-command "make lock" --no-emit-package pyyaml -o layers/speech/requirements.txt
	$(UV) pip compile -q infra/lambda-runtime/requirements.in --generate-hashes \
	  --custom-compile-command "make lock" -o infra/lambda-runtime/requirements.txt
	$(UV) pip compile -q infra/tools/sam-requirements.in --generate-hashes \
	  --custom-compile-command "make lock" -o infra/tools/sam-requirements.txt
	$(UV) pip compile -q infra/tools/docs-requirements.in --python-version 3.13 --generate-hashes \
	  --custom-compile-command "make lock" -o infra/tools/docs-requirements.txt
	$(UV) pip compile -q infra/tools/checkov-requirements.in --generate-hashes \
	  --custom-compile-command "make lock" -o infra/tools/checkov-requirements.txt
	$(UV) pip compile -q infra/localstack/requirements.in --generate-hashes \
	  --custom-compile-command "make lock" -o infra/localstack/requirements.txt
	$(UV) pip compile -q infra/tools/uv-requirements.in --generate-hashes \
	  --custom-compile-command "make lock" -o infra/tools/uv-requirements.txt

clean:
	-$(RUN)/reelstack local stop --clean
	rm -rf .venv .tools .local
