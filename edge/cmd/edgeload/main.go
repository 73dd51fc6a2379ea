// Command edgeload benchmarks the WebSocket edge with load clients in a process of their own,
// over loopback. `edgeload bench` (what `make bench` runs) starts two child processes of the
// same binary — a NATS server (`edgeload nats`) and an edge (`edgeload server`) — and drives
// them from its own process, so each side's memory and CPU are its own:
//
//	go run ./edge/cmd/edgeload bench                     # every scenario, full size
//	go run ./edge/cmd/edgeload bench -conns 1000 -rounds 2 -chat-duration 3s   # quick
//
// Scenarios:
//
//   - idle: memory per idle authenticated connection (edge process: RSS and Go heap+stacks,
//     before and after opening the connections);
//   - fanout: a notification push to each of the connected users, publish → receive latency;
//   - chat: consumer → seller chat messages at a fixed rate, send → receive and send → ack
//     latency: through the real chat service (stored in MongoDB — the embedded FerretDB unless
//     -mongo is given) and through an in-memory stand-in, which measures the edge and NATS
//     alone (-chat-store).
//
// Profiling: EDGELOAD_HOLD=1 makes the edge print its admin address (pprof under
// /debug/pprof/) and the idle scenario hold its connections for 20 s before the fan-out;
// EDGELOAD_MEMPROFILE=1 samples every allocation in the edge for precise heap profiles.
package main

import (
	"fmt"
	"os"
)

func main() {
	cmd := "bench"
	if len(os.Args) > 1 && os.Args[1] != "" && os.Args[1][0] != '-' {
		cmd = os.Args[1]
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	var err error
	switch cmd {
	case "bench":
		err = runBench(os.Args[1:])
	case "nats":
		err = runNATS(os.Args[1:])
	case "server":
		err = runServer(os.Args[1:])
	default:
		err = fmt.Errorf("unknown command %q (bench, nats, server)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeload:", err)
		os.Exit(1)
	}
}
