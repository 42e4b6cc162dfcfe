# Loft's make targets. `make test` is what CI runs.
GO ?= go

.PHONY: test run build bench fmt-check vet

test: fmt-check vet
	$(GO) test -race -count=1 ./...

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
