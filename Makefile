# AASEE: `make run` installs everything, builds the default guest and analyses the demo
# sample; `make test` installs everything and runs the whole suite (VM tests included).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := qemu-system-x86 qemu-system-arm qemu-system-mips qemu-utils \
	libvirt-daemon-system libvirt-clients libvirt-dev libxml2-utils \
	pkg-config gcc libc6-dev debootstrap e2fsprogs cpio kmod file libmagic1 iproute2 \
	util-linux procps nftables openssl chromium redis-server postgresql golang-go \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
	gcc-mipsel-linux-gnu libc6-dev-mipsel-cross gcc-mips-linux-gnu libc6-dev-mips-cross \
	gcc-i686-linux-gnu libc6-dev-i386-cross make bc flex bison libssl-dev xz-utils glance-api \
	libvirt-daemon-driver-lxc bpftrace \
	swift swift-proxy swift-account swift-container swift-object python3-swift memcached \
	gcc-mingw-w64-x86-64 gcc-mingw-w64-i686
# armel's cross compiler cannot be resolved in the same apt call as the armhf one here
# (measured): it gets a call of its own.
APT_SEPARATE := gcc-arm-linux-gnueabi libc6-dev-armel-cross
DEMO_TIMEOUT ?= 20
WORKERS ?= 1
PORT ?= 8000
SERVE ?= 1

.PHONY: install system-packages python-packages image run test lint clean

install: system-packages python-packages

system-packages:
	@if dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) $(APT_SEPARATE) 2>/dev/null | grep -vq 'install ok installed' \
	   || [ $$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) $(APT_SEPARATE) 2>/dev/null | wc -l) -lt $(words $(APT_PACKAGES) $(APT_SEPARATE)) ]; then \
		echo "installing Debian packages"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES) \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_SEPARATE); \
	else echo "Debian packages already installed"; fi

python-packages: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	ln -sf $(CURDIR)/$(BIN)/aasee /usr/local/bin/aasee
	touch $@

image: install
	$(BIN)/aasee image build

# The demo analysis, then the service (web UI + API + workers) on http://127.0.0.1:$(PORT)/
# with a fresh API token printed; Ctrl-C stops it. SERVE=0 stops after the demo.
run: image
	$(BIN)/aasee analyze src/aasee/demo/dropper.sh --timeout $(DEMO_TIMEOUT) --out analysis-demo
	@echo "HTML report: $(CURDIR)/analysis-demo/report.html"
ifneq ($(SERVE),0)
	@$(BIN)/aasee token create make-run-$$(date +%Y%m%d-%H%M%S)
	$(BIN)/aasee serve --workers $(WORKERS) --port $(PORT)
endif

test: image
	$(BIN)/pytest -q

lint: python-packages
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf analysis-demo .pytest_cache .mypy_cache
