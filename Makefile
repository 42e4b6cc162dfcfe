# Loft's make targets. `make test` is what CI runs.
GO ?= go

.PHONY: test run build bench loadbench soak fmt-check vet fuzz chromium

test: fmt-check vet chromium
	$(GO) test -race -count=1 ./...
	@$(MAKE) --no-print-directory fuzz

# The web demo's browser tests drive Debian's chromium headless; a fresh
# machine installs it here (as root, as CI runs).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

run:
	$(GO) run ./cmd/loft

build:
	$(GO) build -o bin/loft ./cmd/loft

# Store benchmarks; figures go to docs/benchmarks.md.
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=2s ./history/ ./presence/

# End-to-end load benchmarks: loft-bench starts a fresh server (empty data
# dir under $$TMPDIR) for each scenario and prints a table; LOADFLAGS adds
# flags (--json, --duration 20s, ...). Figures go to docs/benchmarks.md.
LOADFLAGS ?=
SCENARIOS ?= idle direct latency reconnect group catchup push ceiling

loadbench:
	$(GO) build -o bin/loft ./cmd/loft
	$(GO) build -o bin/loft-bench ./cmd/loft-bench
	bin/loft-bench --server bin/loft $(LOADFLAGS) $(SCENARIOS)

# The crash test for longer than make test runs it: SOAKCYCLES SIGKILLs of
# the real binary under load, every acked message checked after each.
SOAKCYCLES ?= 1000

soak:
	LOFTTEST_CYCLES=$(SOAKCYCLES) $(GO) test -race -count=1 -timeout=60m -run='^TestCrashRestartCycles$$' -v ./cmd/loft/

# Every fuzz target in the tree for FUZZTIME each: go test fuzzes one target
# per run. Their seed corpora (testdata/fuzz) run with the unit tests; this
# looks for new inputs. A failing input is saved under testdata/fuzz.
FUZZTIME ?= 3s

fuzz:
	@set -e; for file in $$(grep -l '^func Fuzz' $$(find . -name '*_test.go' -not -path './.git/*')); do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "fuzz $$(dirname $$file) $$name"; \
			$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$(dirname $$file); \
		done; \
	done
