# topolab developer targets. CGO is off everywhere: topolab needs no C
# libraries, and the static binary also goes into the Docker probe image.
export CGO_ENABLED := 0
GO ?= go
BIN := bin/topolab

.PHONY: build test run bench lint fuzz clean

# topolab-responder goes beside topolab: the docker runtime copies it into
# the probe image.
build:
	$(GO) build -o $(BIN) ./cmd/topolab
	$(GO) build -o bin/topolab-responder ./cmd/topolab-responder

# The test command of the README. Privileged tests skip without root or
# Docker; TOPOLAB_REQUIRE_PRIVILEGED=1 turns those skips into failures.
# Packages run one at a time (-p 1): the Docker runtime's tests change the
# root namespace, which the netns tests check is left unchanged.
test:
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 45m ./...

# The main job on the embedded alpine-net lesson (needs root, or
# unprivileged user namespaces).
run: build
	$(BIN) run alpine-net

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./... | tee bench.txt

lint:
	$(GO) vet ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./topology

clean:
	rm -rf bin bench.txt
