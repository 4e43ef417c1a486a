# golog: a workbook of stage folders (NN-name/, each its own Go module) and the tools
# that keep them honest, and final/, the production server (its own module too, outside
# the stage chain). Stages are found from the folders, so a new stage needs no edit
# here. Pinned tools live in tools/go.mod and run as `go -C tools tool NAME`.
#
# Reserved for final/: bench, chaos, docker.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STAGES := $(patsubst %/,%,$(sort $(wildcard [0-9][0-9]-*/)))
# FINAL is final when final/ is a module yet, empty before.
FINAL := $(patsubst %/go.mod,%,$(wildcard final/go.mod))
PROTO_STAGES := $(patsubst %/api/v1/,%,$(sort $(dir $(wildcard [0-9][0-9]-*/api/v1/*.proto final/api/v1/*.proto))))
# gencert uses the newest folder (final/ counts as the newest) whose certs/ has all four files.
CERT_FILES := ca-csr.json ca-config.json server-csr.json client-csr.json
CERT_STAGE := $(lastword $(foreach s,$(STAGES) final,$(if $(filter 4,$(words $(wildcard $(addprefix $s/certs/,$(CERT_FILES))))),$s)))

GOTEST := go test -race -shuffle=on -count=1 ./...
# go -C runs each tool inside tools/, so every path handed to a tool is absolute.
TOOL := go -C $(CURDIR)/tools tool
CERT_DIR ?= .certs
CERTS := $(abspath $(CERT_DIR))
CERT_SIGN = -ca=$(CERTS)/ca.pem -ca-key=$(CERTS)/ca-key.pem -config=$(CURDIR)/$(CERT_STAGE)/certs/ca-config.json

export GOWORK := off
# workshop-check runs each break-it's tests on the unmodified chapter too, unless 0 (CI:
# make test has run them).
BREAKIT_CLEAN ?= 1
export BUF_CACHE_DIR := $(CURDIR)/bin/buf-cache

# stage_of maps A=03 or A=03-grpc to the stage folder.
stage_of = $(or $(filter $(1),$(STAGES)),$(filter $(1)-%,$(STAGES)),$(1))

.PHONY: help test $(addprefix test-,$(STAGES)) test-final test-tools check check-generated check-final \
	compile gencert grpcurl tools diff tour transcripts exercise exercises workshop-check \
	run build cluster lab propagate browser-deps docker docker-test chaos fuzz bench helm-check soak

help: ## show this list
	@echo "usage: make TARGET"
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "  test-NN-name     run one stage's tests; stages: $(or $(STAGES),none yet)"

test: ## run every stage's tests in order, then final's; stop at the first failure
	@$(if $(STAGES),,echo "no stage folders yet; nothing to test")
	@for s in $(STAGES); do \
		echo "== $$s: $(GOTEST)"; \
		(cd $$s && $(GOTEST)) || { echo "FAIL: stage $$s"; exit 1; }; \
	done
	@$(if $(FINAL),$(MAKE) --no-print-directory test-final)

$(addprefix test-,$(STAGES)): test-%:
	@echo "== $*: $(GOTEST)"
	@cd $* && $(GOTEST) || { echo "FAIL: stage $*"; exit 1; }

test-final: ## run final's tests (the golog command's run a real ./run.sh too)
ifeq ($(FINAL),)
	@echo "no final/ yet; nothing to test"
else
	@echo "== final: $(GOTEST)"
	@cd final && $(GOTEST) || { echo "FAIL: final"; exit 1; }
endif

test-tools: ## test the stage checker
	go -C tools vet ./...
	go -C tools test ./...

check: ## check every stage (stagecheck), final (check-final) and the committed generated code
	@status=0; \
	$(TOOL) stagecheck -root $(CURDIR) || status=1; \
	$(MAKE) --no-print-directory check-final || status=1; \
	$(MAKE) --no-print-directory check-generated || status=1; \
	exit $$status

# final is no stage: it has no changes.txt and no stage README, but the same code rules.
check-final: ## gofmt, go vet and -debug in every test package, for final
ifeq ($(FINAL),)
	@echo "no final/ yet; nothing to check"
else
	@cd final; status=0; \
	unformatted=$$(gofmt -l .); \
	[ -z "$$unformatted" ] || { echo "FAIL final: gofmt -l:"; echo "$$unformatted"; status=1; }; \
	go vet ./... || { echo "FAIL final: go vet"; status=1; }; \
	out=$$(go test -run '^$$' ./... -debug=true 2>&1) || \
		{ echo "$$out" | grep -v '^ok'; echo "FAIL final: go test -run '^$$' ./... -debug=true"; status=1; }; \
	[ $$status = 0 ] && echo "ok final: gofmt, vet, -debug"; \
	exit $$status
endif

# buf_generate(stage, out dir): generate the stage's api/v1 with the pinned plugins.
# The template is passed inline because it names the absolute path of tools/.
BUF_PLUGIN = {"local":["go","-C","$(CURDIR)/tools","tool","$(1)"],"out":".","opt":["paths=source_relative"]}
BUF_TEMPLATE = {"version":"v2","plugins":[$(call BUF_PLUGIN,protoc-gen-go),$(call BUF_PLUGIN,protoc-gen-go-grpc)]}
buf_generate = $(TOOL) buf generate $(CURDIR)/$(1) --path $(CURDIR)/$(1)/api/v1 --template '$(BUF_TEMPLATE)' -o $(2)

compile: ## regenerate STAGE/api/v1/*.pb.go for every stage that has api/v1/*.proto
	@$(if $(PROTO_STAGES),,echo "no stage has api/v1/*.proto yet; nothing to compile")
	@for s in $(PROTO_STAGES); do \
		echo "buf generate $$s/api/v1"; \
		$(call buf_generate,$$s,$(CURDIR)/$$s); \
	done

check-generated: ## fail if regenerating the *.pb.go files would change them
	@$(if $(PROTO_STAGES),,echo "no stage has api/v1/*.proto yet; no generated code to check")
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; failed=; \
	for s in $(PROTO_STAGES); do \
		mkdir -p $$tmp/committed/$$s/api/v1; \
		find $$s/api/v1 -maxdepth 1 -name '*.pb.go' -exec cp {} $$tmp/committed/$$s/api/v1/ ';'; \
		$(call buf_generate,$$s,$$tmp/generated/$$s); \
		if (cd $$tmp && diff -ru committed/$$s generated/$$s); then \
			echo "ok $$s: generated code is up to date"; \
		else \
			echo "FAIL $$s: generated code differs from what make compile writes"; failed="$$failed $$s"; \
		fi; \
	done; \
	[ -z "$$failed" ] || { echo "FAIL: run make compile in:$$failed"; exit 1; }

gencert: ## write CA, server and client (root, nobody) certificates to CERT_DIR (default .certs)
ifeq ($(CERT_STAGE),)
	@echo "gencert: no stage has certs/ with $(CERT_FILES) yet; nothing to do"
else
	@echo "gencert: $(CERT_STAGE)/certs -> $(CERT_DIR)"
	@mkdir -p $(CERTS)
	$(TOOL) cfssl gencert -initca $(CURDIR)/$(CERT_STAGE)/certs/ca-csr.json \
		| $(TOOL) cfssljson -bare $(CERTS)/ca
	$(TOOL) cfssl gencert $(CERT_SIGN) -profile=server $(CURDIR)/$(CERT_STAGE)/certs/server-csr.json \
		| $(TOOL) cfssljson -bare $(CERTS)/server
	$(TOOL) cfssl gencert $(CERT_SIGN) -profile=client -cn=root $(CURDIR)/$(CERT_STAGE)/certs/client-csr.json \
		| $(TOOL) cfssljson -bare $(CERTS)/root-client
	$(TOOL) cfssl gencert $(CERT_SIGN) -profile=client -cn=nobody $(CURDIR)/$(CERT_STAGE)/certs/client-csr.json \
		| $(TOOL) cfssljson -bare $(CERTS)/nobody-client
endif

grpcurl: ## build grpcurl into bin/tools/grpcurl
	go -C tools build -o $(CURDIR)/bin/tools/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl

tools: ## build every pinned tool into bin/tools (slow the first time)
	go -C tools build -o $(CURDIR)/bin/tools/ tool

diff: ## what stage B adds to A, summary first: make diff A=01 B=02 [ALL=1: *.pb.go, go.sum too]
	@[ -n "$(A)" ] && [ -n "$(B)" ] || { echo "usage: make diff A=01-log B=02-protobuf [ALL=1]"; exit 2; }
	@$(TOOL) stagecheck diff -root $(CURDIR) $(if $(filter 1,$(ALL)),-all) $(A) $(B)

tour: ## a chapter's files in reading order, core path first: make tour CH=07
	@[ -n "$(CH)" ] || { echo "usage: make tour CH=07"; exit 2; }
	@$(TOOL) stagecheck tour -root $(CURDIR) $(CH)

transcripts: ## run each README's tour and compare with what it shows [CH=07] [UPDATE=1 rewrites]
	@$(TOOL) stagecheck transcripts -root $(CURDIR) $(if $(CH),-only $(CH)) $(if $(filter 1,$(UPDATE)),-update)

exercise: ## run a workshop exercise's check: make exercise CH=03 N=2 [SOLUTION=1]
	@[ -n "$(CH)" ] && [ -n "$(N)" ] || { echo "usage: make exercise CH=03 N=2 [SOLUTION=1]"; exit 2; }
	@workshop/exercise.sh $(if $(filter 1,$(SOLUTION)),--solution) $(CH) $(N)

exercises: ## list the workshop exercises [CH=03]
	@workshop/exercise.sh --list $(CH)

workshop-check: ## CI for the workshop: checks fail unsolved, pass solved; break-its; README tours and demos [BREAKIT_CLEAN=0]
	@status=0; t=$$SECONDS; \
	BREAKIT_CLEAN=$(BREAKIT_CLEAN) workshop/check.sh || status=1; \
	echo "workshop: exercises and break-its in $$((SECONDS - t))s"; t=$$SECONDS; \
	printf '%s\n' $(STAGES) | xargs -P 3 -I{} $(TOOL) stagecheck transcripts -root $(CURDIR) -only {} || status=1; \
	echo "workshop: transcripts in $$((SECONDS - t))s"; t=$$SECONDS; \
	JOBS=3 workshop/demo.sh workshop/README.md || status=1; \
	printf '%s\n' $(wildcard [0-9][0-9]-*/README.md) | xargs -P 3 -n 1 workshop/demo.sh || status=1; \
	echo "workshop: the demos of the guide and the chapter READMEs in $$((SECONDS - t))s"; \
	exit $$status

run: ## build and start the most complete server (./run.sh)
	./run.sh

# cfssl's command needs cgo (sqlite3), but the CFSSL packages golog imports do not.
build: ## build final's golog command as a static binary, bin/golog
	cd final && CGO_ENABLED=0 go build -trimpath -o $(CURDIR)/bin/golog ./cmd/golog

# The image: FROM scratch, from bin/golog and a build context holding only what the
# Dockerfile copies (see final/deploy/Dockerfile), so nothing is pulled from a registry.
IMAGE ?= golog:dev
DOCKER ?= docker
DOCKER_CONTEXT := $(CURDIR)/bin/docker-context

docker: build ## build the image IMAGE (golog:dev) FROM scratch from bin/golog
	rm -rf $(DOCKER_CONTEXT)
	mkdir -p $(DOCKER_CONTEXT)/rootfs/usr/local/bin $(DOCKER_CONTEXT)/rootfs/tmp \
		$(DOCKER_CONTEXT)/home/data $(DOCKER_CONTEXT)/home/.certs
	chmod 0755 $(DOCKER_CONTEXT)/home $(DOCKER_CONTEXT)/home/data $(DOCKER_CONTEXT)/home/.certs
	chmod 1777 $(DOCKER_CONTEXT)/rootfs/tmp
	cp bin/golog $(DOCKER_CONTEXT)/rootfs/usr/local/bin/golog
	$(DOCKER) build --file $(CURDIR)/final/deploy/Dockerfile --tag $(IMAGE) $(DOCKER_CONTEXT)

# docker-test skips, saying so, where there is no Docker engine; it takes about 30 s
# once bin/golog is built (see final/deploy/docker-test.sh), and at most DEADLINE (180 s).
docker-test: ## build the image, run the compose cluster, produce, consume, kill the leader, produce again
	@if ! $(DOCKER) info >/dev/null 2>&1; then \
		echo "docker-test: SKIP: no Docker engine here ($(DOCKER) info fails); nothing was tested"; \
	else \
		$(MAKE) --no-print-directory docker && IMAGE=$(IMAGE) final/deploy/docker-test.sh; \
	fi

# The chaos suite (final/test/chaos): a cluster of containers from IMAGE under faults
# from a printed seed, then the history checks. CHAOS_RUNS schedules of CHAOS_FAULTS
# faults on three servers and CHAOS_RUNS5 on five; CHAOS_SEED replays one schedule;
# CHAOS_KINDS draws only the kinds of fault whose names contain one of its words.
# It skips, saying so, where there is no Docker engine.
CHAOS_RUNS ?= 2
CHAOS_RUNS5 ?= 1
CHAOS_FAULTS ?= 8
CHAOS_SEED ?=
CHAOS_KINDS ?=
chaos: ## prove the guarantees under faults: a Docker cluster, seeded faults, linearizability and loss checks
	@if ! $(DOCKER) info >/dev/null 2>&1; then \
		echo "chaos: SKIP: needs Docker ($(DOCKER) info fails); nothing was tested"; \
	else \
		$(MAKE) --no-print-directory docker && \
		cd final && GOLOG_CHAOS=1 GOLOG_IMAGE=$(IMAGE) GOLOG_CHAOS_FAULTS=$(CHAOS_FAULTS) GOLOG_CHAOS_SEED=$(CHAOS_SEED) \
			GOLOG_CHAOS_KINDS="$(CHAOS_KINDS)" GOLOG_CHAOS_RUNS=$(CHAOS_RUNS) go test -count=1 -v -timeout 40m -run 'TestChaos3$$' ./test/chaos/ && \
		GOLOG_CHAOS=1 GOLOG_IMAGE=$(IMAGE) GOLOG_CHAOS_FAULTS=$(CHAOS_FAULTS) GOLOG_CHAOS_SEED=$(CHAOS_SEED) \
			GOLOG_CHAOS_KINDS="$(CHAOS_KINDS)" GOLOG_CHAOS_RUNS=$(CHAOS_RUNS5) go test -count=1 -v -timeout 40m -run 'TestChaos5$$' ./test/chaos/; \
	fi

# The fuzz targets of final, each for FUZZTIME (their committed corpora, under each
# package's testdata/fuzz, run with every `go test` too). About 2 min in all.
FUZZTIME ?= 10s
FUZZ_TARGETS := internal/storage:FuzzOpen internal/storage:FuzzOpenDir internal/storage:FuzzScanner \
	internal/storage:FuzzDecodeRecord internal/consensus:FuzzDecodeAppend internal/consensus:FuzzRestore \
	internal/server:FuzzHTTP
fuzz: ## run each of final's fuzz targets for FUZZTIME (10s)
	@cd final && for t in $(FUZZ_TARGETS); do \
		echo "== $${t%%:*} $${t##*:} for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ || exit 1; \
	done

# Helm is pinned in a module of its own, tools/helm: its Kubernetes modules need not agree
# with the other tools'. The first run builds it (a few minutes), later ones take seconds.
helm-check: ## helm lint and helm template on final/deploy/helm/golog, with the pinned Helm
	HELM="go -C $(CURDIR)/tools/helm tool helm" final/deploy/helm/check.sh

# The soak (final/internal/agent TestSoak): a mixed load on a three-server cluster for
# SOAK, then goroutine and heap checks.
SOAK ?= 5m
soak: ## run a mixed load on a cluster for SOAK (5m) and check for leaks
	cd final && GOLOG_SOAK=$(SOAK) go test -count=1 -v -timeout 30m -run '^TestSoak$$' ./internal/agent/

cluster: ## build and start a local cluster of three final servers (./run.sh --nodes 3)
	./run.sh --nodes 3

# make bench is not part of make test or CI: it takes about ten minutes. Its settings are
# environment variables (BENCH_RUNS, BENCH_SECONDS, ...): see final/bench/bench.sh.
bench: ## measure final on this machine: a local 3-server cluster, the probe, then the table
	bash final/bench/bench.sh

lab: ## build and start a local cluster of three servers in lab mode (./run.sh --nodes 3 --lab)
	./run.sh --nodes 3 --lab

# The cluster console's browser test (final/cmd/golog) drives Debian's chromium. As root
# (CI, a fresh machine) this installs it where it is missing; otherwise it says how.
# It never fails: where Chromium cannot be had, the browser test skips and says why.
browser-deps: ## install Chromium for the console's browser test, where missing (apt-get, as root)
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "browser-deps: $$(command -v chromium || command -v chromium-browser) is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "browser-deps: installing chromium with apt-get"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "browser-deps: WARNING: apt-get could not install chromium; the browser test will skip"; \
	else \
		echo "browser-deps: no chromium, and not root with apt-get: install it yourself (apt-get install chromium), or the browser test skips"; \
	fi

propagate: ## carry a fix forward: make propagate FROM=01-log FILE=internal/testenv/testenv.go
	@[ -n "$(FROM)" ] && [ -n "$(FILE)" ] || { echo "usage: make propagate FROM=01-log FILE=path/in/stage"; exit 2; }
	$(TOOL) stagecheck propagate -root $(CURDIR) -from $(FROM) $(FILE)
