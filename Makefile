# make demo: set up the environment if missing, then run the workflow on the built-in demo data.
# make test: set up the environment if missing, then run the whole test suite.
# make demo-realmedia: the same workflow on the real-media demo (configs/demo_realmedia.yaml).
# make demo-av: arousal and valence in [-1, 1] with the OMG-Emotion family (configs/demo_arousal_valence.yaml).
# make realmedia-media: install the Debian packages whose sounds the real-media demo is made of.
# make report-browser: install Debian's chromium, the headless browser the HTML report's test opens.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eevflow-installed
CORES ?= all
# Without a GPU, the `gpu` resource (profiles/default: 1, so that two jobs never share one card)
# would run the CPU-bound extract, train and predict jobs one at a time; the demos then let as
# many run side by side as there are cores, and give the demo's small models one thread each.
GPUS := $(shell nvidia-smi -L 2>/dev/null | grep -c GPU)
ifeq ($(GPUS),0)
DEMO_FLAGS ?= --resources gpu=$(shell nproc) --set-threads train=1 predict=1 select_sweep=1
endif

.PHONY: setup demo demo-realmedia demo-av realmedia-media report-browser test lint schema \
	clean-results

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --cores $(CORES) $(DEMO_FLAGS)

# The real-media demo's sounds come from Debian's alsa-utils (/usr/share/sounds/alsa) and
# sound-theme-freedesktop (/usr/share/sounds/freedesktop/stereo): installed with apt-get when
# missing (as root), else the command to run is printed.
REALMEDIA_DEBS := alsa-utils sound-theme-freedesktop
REALMEDIA_SOUNDS := /usr/share/sounds/alsa/Noise.wav /usr/share/sounds/freedesktop/stereo/bell.oga

realmedia-media:
	@if ls $(REALMEDIA_SOUNDS) >/dev/null 2>&1; then \
		echo "real-media demo sounds: installed ($(REALMEDIA_DEBS))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(REALMEDIA_DEBS); \
	else \
		echo "the real-media demo needs the Debian packages $(REALMEDIA_DEBS):" \
			"run \`sudo apt-get install $(REALMEDIA_DEBS)\`" >&2; \
		exit 1; \
	fi

# tests/test_report_html.py opens `snakemake --report report.html` in headless Chromium
# (Debian's chromium package): installed with apt-get when missing (as root), else the command to
# run is printed.
report-browser:
	@if command -v chromium >/dev/null; then \
		echo "report browser: installed ($$(command -v chromium))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium; \
	else \
		echo "the HTML report's test needs Debian's chromium:" \
			"run \`sudo apt-get install chromium\`" >&2; \
		exit 1; \
	fi

demo-realmedia: $(STAMP) realmedia-media
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --configfile configs/demo_realmedia.yaml \
		--cores $(CORES) $(DEMO_FLAGS)

demo-av: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --configfile configs/demo_arousal_valence.yaml \
		--cores $(CORES) $(DEMO_FLAGS)

test: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" python -m pytest -q -ra

lint: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" snakemake --lint && $(VENV)/bin/snakefmt --check .

# regenerate schemas/config.schema.yaml and the README's option tables from the option classes
schema: $(STAMP)
	$(PY) scripts/gen_schema.py

clean-results:
	rm -rf results results_realmedia .snakemake
