# The two commands a newcomer needs:
#   make run    the server on :3000 (single node, no Redis, no config)
#   make test   every test: vet, unit, fuzz seeds, black-box, interop with real clients, all with -race
#               but the timing-precise heartbeat and the memory tests, which run after without it
GO      ?= go
NPM     ?= npm
INTEROP := test/interop

.PHONY: run test deps build vet bench bench-quick bench-chat bench-cluster bench-codec fuzz conformance-eio conformance-sio client-dist clean

run:
	$(GO) run ./cmd/server -dev

build:
	$(GO) build -o bin/server ./cmd/server
	$(GO) build -o bin/conformance ./cmd/conformance

# deps installs what the tests need beyond the Go toolchain: Node and npm, Chromium
# and redis-server (apt), the pinned npm clients (npm ci from the committed lockfile), and
# python-socketio's client (apt: python3-socketio, plus python3-requests and
# python3-websocket, which python3-engineio needs for polling and WebSocket
# but does not depend on). The Python check runs from / because the repository
# root's socketio/ folder would pass for a Python package, and tries the system
# python3 too, for which apt installs (a pyenv or venv python3 may be first on
# PATH); socketio/interop_test.go looks for the same interpreters.
deps:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
		echo "installing nodejs and npm with apt-get"; \
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@cd / && { python3 -c 'import socketio.client, engineio.client, requests, websocket' || \
		/usr/bin/python3 -c 'import socketio.client, engineio.client, requests, websocket'; } >/dev/null 2>&1 || { \
		echo "installing python3-socketio, python3-requests and python3-websocket with apt-get"; \
		apt-get update -qq && apt-get install -y -qq python3-socketio python3-requests python3-websocket >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server with apt-get (the Redis adapter tests start their own servers and clusters)"; \
		apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium with apt-get (the XSS tests render message texts in it; the admin UI and client bundle tests drive it)"; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	cd $(INTEROP) && $(NPM) ci --no-audit --no-fund --loglevel=error

# client-dist fetches socket.io-client's browser bundle, at the version
# test/interop's lockfile pins, with npm pack, checks it against the
# lockfile's integrity hash, and unpacks it into CLIENT_DIST (default
# client-dist/): point socketio.Options.ServeClient at $(CLIENT_DIST)/dist
# (its ETag is then the version, from $(CLIENT_DIST)/package.json). After
# `make deps`, test/interop/node_modules/socket.io-client/dist is the same.
CLIENT_DIST ?= client-dist
client-dist:
	@lock=$(INTEROP)/package-lock.json; \
	 v=$$(node -p "require('./$$lock').packages['node_modules/socket.io-client'].version") && \
	 sum=$$(node -p "require('./$$lock').packages['node_modules/socket.io-client'].integrity") && \
	 rm -rf $(CLIENT_DIST) && mkdir -p $(CLIENT_DIST) && cd $(CLIENT_DIST) && \
	 $(NPM) pack "socket.io-client@$$v" --silent >/dev/null && \
	 node -e 'const [f, want] = process.argv.slice(1); const got = "sha512-" + require("crypto").createHash("sha512").update(require("fs").readFileSync(f)).digest("base64"); if (got !== want) { console.error(f + ": integrity " + got + ", the lockfile says " + want); process.exit(1); }' "socket.io-client-$$v.tgz" "$$sum" && \
	 tar -xzf "socket.io-client-$$v.tgz" --strip-components=1 && rm "socket.io-client-$$v.tgz" && \
	 echo "socket.io-client $$v in $(CLIENT_DIST)/dist (socketio.Options.ServeClient)"

# vet also fails when go.mod/go.sum are not tidy (a dependency imported
# directly but marked // indirect, a go.sum line missing): `go mod tidy -diff`
# changes nothing and exits non-zero when tidying would change them.
vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result. The changes it would make:"; \
		$(GO) mod tidy -diff; exit 1; }

test: deps vet
	$(GO) test -race -count=1 ./...
	# The heartbeat at the protocol suite's 300/200 ms settings, timed to
	# the suite's precision: without the race detector and alone, so that
	# no other test's load stretches its 200 ms windows.
	$(GO) test -count=1 -run '^TestHeartbeat' ./engine
	# Memory and resource tests (RSS, 20,000-cycle churn, 1,000 slow
	# consumers) are meaningless under the race detector, and the 90 MB
	# bursts of the real client too slow under it: run them without.
	$(GO) test -count=1 -run 'Churn|SlowConsumer|Leak|Hygiene|Burst' ./engine ./socketio

# bench runs the load benchmarks side by side (ours, Node socket.io 4.8,
# zishang520/socket.io v3, a raw gnet+gobwas floor), < 20 min, and rewrites
# the generated section of BENCHMARKS.md and bench/charts/. bench-quick runs
# every scenario small (< 3 min) and the chat benchmark small (< 40 s) for
# completeness, not comparison; CI runs it (with the cluster scenario at
# 2,000 clients over 3 servers per cluster, < 30 s).
bench:
	$(GO) run ./bench/cmd/benchrun

bench-quick:
	$(GO) run ./bench/cmd/benchrun -quick
	$(GO) run ./bench/cmd/chatbench -quick
	$(GO) run ./bench/cmd/clusterbench -quick

# bench-cluster is issue 10's cluster scenario: one redis-server, 6 server
# processes joined through it, 100,000 WebSocket clients spread over them,
# 5 io.emit broadcasts from one node; ours (sio/redisadapter), then Node
# socket.io with @socket.io/redis-adapter (< 5 min). It fails when a client
# missed a broadcast; the table in BENCHMARKS.md ("Cluster broadcast over
# Redis") is updated by hand.
bench-cluster:
	$(GO) run ./bench/cmd/clusterbench

# bench-chat benchmarks the chat gateway (cmd/server): 2,000 users in channels
# of 50 typing, sending and changing presence at chat rates for 60 s (< 2 min).
# It prints a table and writes bench/results/chat-<time>.json; the table in
# BENCHMARKS.md ("Chat gateway") is updated by hand.
bench-chat:
	$(GO) run ./bench/cmd/chatbench

# bench-codec runs the hot-path micro-benchmarks (allocations per op).
bench-codec:
	$(GO) test -run='^$$' -bench=. -benchmem ./codec ./socketio ./limits

# fuzz runs each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./codec | grep ^Fuzz); do \
		echo "== $$t"; $(GO) test ./codec -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s || exit 1; done

# conformance-eio runs the official Engine.IO v4 suite against cmd/conformance.
# The suite is not part of this repository: point EIO_SUITE at a checkout of
# socketio/engine.io-protocol's test-suite folder (with npm ci done in it).
RUNS ?= 5
conformance-eio: build
	@test -n "$(EIO_SUITE)" || { echo "set EIO_SUITE=/path/to/engine.io-protocol/test-suite"; exit 2; }
	@./bin/conformance -mode eio -addr 127.0.0.1:3000 & pid=$$!; sleep 0.5; \
	 rc=0; for i in $$(seq 1 $(RUNS)); do (cd $(EIO_SUITE) && npx mocha test-suite.js 2>/dev/null | grep -E 'passing|failing') || rc=1; done; \
	 kill $$pid; exit $$rc

# conformance-sio does the same for the Socket.IO v5 suite (SIO_SUITE).
conformance-sio: build
	@test -n "$(SIO_SUITE)" || { echo "set SIO_SUITE=/path/to/socket.io-protocol/test-suite"; exit 2; }
	@./bin/conformance -mode sio -addr 127.0.0.1:3000 & pid=$$!; sleep 0.5; \
	 rc=0; for i in $$(seq 1 $(RUNS)); do (cd $(SIO_SUITE) && npx mocha test-suite.js 2>/dev/null | grep -E 'passing|failing') || rc=1; done; \
	 kill $$pid; exit $$rc

clean:
	rm -rf bin
