# mstore: `make demo` and `make test` each do all set-up on a fresh machine.
SHELL := /bin/bash
# /usr/bin/python3, not a pyenv under /root: tests run mstore as an unprivileged user too
PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARCHIVE ?=
UI ?= 1
UI_PORT ?= 8765
DEMO := build/demo

.PHONY: venv browser speech sshd test lint demo bench bench-scale clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
		(apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# compat: a plain path in a .pth, not an import hook every Python start loads (14 ms
	# of each command's start-up here, which the latency benchmarks would count)
	$(PY) -m pip install -q -e '.[test,words,faces,similar]' --config-settings editable_mode=compat
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21  # see the faces extra in pyproject.toml
	touch $@

venv: $(VENV)/.installed

# the browser tests drive Debian's chromium (Playwright's own browser download is not used)
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core >/dev/null

browser: $(CHROMIUM)

# the transcribe tests speak with Debian's espeak-ng (no TTS ships in a PyPI package)
ESPEAK ?= /usr/bin/espeak-ng
$(ESPEAK):
	apt-get update -qq && apt-get install -y -qq espeak-ng fonts-dejavu-core >/dev/null

speech: $(ESPEAK)

# the sync tests reach a second "host" through a real sshd on 127.0.0.1, which
# tests/fixtures/sshd.py starts and stops itself, and compare with rsync. No system sshd may
# be left running: a policy-rc.d (unless one exists) tells the package not to start one.
SSHD ?= /usr/sbin/sshd
RSYNC ?= /usr/bin/rsync
sshd:
	@[ -x $(SSHD) ] && [ -x $(RSYNC) ] || { \
		policy=/usr/sbin/policy-rc.d; own=; \
		[ -e $$policy ] || { own=1; printf '#!/bin/sh\nexit 101\n' >$$policy; chmod 755 $$policy; }; \
		apt-get update -qq && apt-get install -y -qq openssh-server rsync >/dev/null; rc=$$?; \
		[ -z "$$own" ] || rm -f $$policy; exit $$rc; }

lint: venv
	$(VENV)/bin/ruff check mstore tests workers

test: venv browser speech sshd
	$(VENV)/bin/ruff check mstore tests workers
	MSTORE_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

demo: venv speech
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
ifeq ($(ARCHIVE),)
	$(PY) -m tests.fixtures.archive --sample $(DEMO)/archive
	$(PY) -m tests.fixtures.faces $(DEMO)/archive/people >/dev/null  # real faces from packages
	$(PY) -m tests.fixtures.words $(DEMO)/archive/words >/dev/null  # a screenshot, a PDF, a memo
	$(eval ARCH := $(DEMO)/archive)
else
	$(eval ARCH := $(ARCHIVE))
endif
	$(VENV)/bin/mstore init --store $(DEMO)/store $(ARCH)
	$(VENV)/bin/mstore --store $(DEMO)/store add
	@echo; echo '$$ mstore status'; $(VENV)/bin/mstore --store $(DEMO)/store status
	@echo; echo '$$ mstore find kind:image --limit 5'; $(VENV)/bin/mstore --store $(DEMO)/store find kind:image --limit 5 || true
	@echo; echo '$$ mstore find has:gps --count'; $(VENV)/bin/mstore --store $(DEMO)/store find has:gps --count || true
	@echo; echo '$$ mstore find kind:video'; $(VENV)/bin/mstore --store $(DEMO)/store find kind:video --limit 5 || true
	@echo; id=$$($(VENV)/bin/mstore --store $(DEMO)/store find kind:image --json --limit 1 | $(PY) -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"][:10])'); \
		echo "\$$ mstore show $$id"; $(VENV)/bin/mstore --store $(DEMO)/store show $$id
	@echo; echo '$$ mstore run photos --production --follow   (starts the embedded Temporal server and a worker)'
	$(VENV)/bin/mstore --store $(DEMO)/store run photos --production --follow
	@echo; echo '$$ mstore run photos --production --param thumbnail.size=320 --dry-run   (what bigger thumbnails would cost)'; \
		$(VENV)/bin/mstore --store $(DEMO)/store run photos --production --param thumbnail.size=320 --dry-run
	@echo; id=$$($(VENV)/bin/mstore --store $(DEMO)/store find has:gps kind:image --json --limit 1 | $(PY) -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"][:10])'); \
		echo "\$$ mstore find near:$$id,5km"; $(VENV)/bin/mstore --store $(DEMO)/store find near:$$id,5km || true
	@echo; echo '$$ mstore run video --production --follow'; $(VENV)/bin/mstore --store $(DEMO)/store run video --production --follow
	@echo; echo '$$ mstore run dedupe --production --follow'; $(VENV)/bin/mstore --store $(DEMO)/store run dedupe --production --follow
	@echo; echo '$$ mstore run words --production --follow   (ocr, doctext, transcribe)'; $(VENV)/bin/mstore --store $(DEMO)/store run words --production --follow
	@echo; echo "\$$ mstore find 'text:\"garden party\"'"; $(VENV)/bin/mstore --store $(DEMO)/store find 'text:"garden party"' || true
	@echo; echo "\$$ mstore find 'text:\"rental agreement\"' --json"; $(VENV)/bin/mstore --store $(DEMO)/store find 'text:"rental agreement"' --json || true
	@echo; echo '$$ mstore find text:cafe'; $(VENV)/bin/mstore --store $(DEMO)/store find text:cafe || true
	@echo; echo '$$ mstore run people --production --follow'; $(VENV)/bin/mstore --store $(DEMO)/store run people --production --follow
	@echo; echo '$$ mstore people'; $(VENV)/bin/mstore --store $(DEMO)/store people
	@echo; echo '$$ mstore run similar --production --follow'; $(VENV)/bin/mstore --store $(DEMO)/store run similar --production --follow
	@echo; id=$$($(VENV)/bin/mstore --store $(DEMO)/store find kind:image --json --limit 1 | $(PY) -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"][:10])'); \
		echo "\$$ mstore find similar:$$id --limit 5"; $(VENV)/bin/mstore --store $(DEMO)/store find similar:$$id --limit 5 || true
	@echo; echo '$$ mstore log'; $(VENV)/bin/mstore --store $(DEMO)/store log
	@echo; echo "Store: $(DEMO)/store   try: $(VENV)/bin/mstore --store $(DEMO)/store find taken:2020"
ifneq ($(UI),0)
	@echo; echo "The web UI: http://127.0.0.1:$(UI_PORT)/   (Ctrl-C stops it and the demo's Temporal server)"
	@trap '$(VENV)/bin/mstore --store $(DEMO)/store server stop >/dev/null' EXIT; \
		$(VENV)/bin/mstore --store $(DEMO)/store ui --port $(UI_PORT) || true
else
	$(VENV)/bin/mstore --store $(DEMO)/store server stop
endif

bench: venv speech sshd
	$(PY) -m compileall -q mstore  # as installed code would be: no recompiling per command
	$(PY) -m tests.benchmarks

# the catalog at a million files (not in CI): the archive is built once in build/scale
# (~15 GB) and kept; FILES=100000 for a smaller one
FILES ?= 1000000
bench-scale: venv
	$(PY) -m compileall -q mstore
	$(PY) -m tests.benchmarks.scale --files $(FILES)

clean:
	rm -rf build $(VENV)
