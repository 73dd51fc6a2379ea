package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/moa-run/moa/contracts"
)

// Targets from issues 6, 12 (the fan-out) and 13 (the chat's ack).
const (
	targetIdleBytes  = 10 << 10
	targetFanoutP99  = 45 * time.Millisecond
	targetChatP99    = 15 * time.Millisecond
	targetChatAckP99 = 20 * time.Millisecond
)

type benchFlags struct {
	conns        int
	rounds       int
	scenarios    string
	chatRate     int
	chatDuration time.Duration
	chatPairs    int
	mongo        string
	chatStore    string
}

func runBench(args []string) error {
	var bf benchFlags
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.IntVar(&bf.conns, "conns", 10000, "idle authenticated connections (idle and fanout); the open-files cap here is 20,000 per process")
	fs.IntVar(&bf.rounds, "rounds", 5, "fan-out rounds")
	fs.StringVar(&bf.scenarios, "scenarios", "idle,fanout,chat", "comma-separated: idle, fanout, chat")
	fs.IntVar(&bf.chatRate, "chat-rate", 1000, "chat messages per second, over all senders")
	fs.DurationVar(&bf.chatDuration, "chat-duration", 10*time.Second, "chat measuring time (after 1 s of warm-up)")
	fs.IntVar(&bf.chatPairs, "chat-pairs", 100, "consumer/seller pairs chatting")
	fs.StringVar(&bf.mongo, "mongo", "", "MongoDB URL for the chat service (default: embedded FerretDB in the edge process)")
	fs.StringVar(&bf.chatStore, "chat-store", "memory,mongo", "comma-separated: mongo (the real chat service and its store), memory (an in-memory stand-in: the edge and NATS alone)")
	cpuProfile := fs.String("cpuprofile", "", "write the load client's CPU profile to this file")
	_ = fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	want := map[string]bool{}
	for _, s := range strings.Split(bf.scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}

	ns, err := spawn("nats")
	if err != nil {
		return err
	}
	defer ns.stop()
	natsPID = ns.cmd.Process.Pid
	nc, err := nats.Connect(ns.ready.NATS, nats.Name("edgeload"))
	if err != nil {
		return err
	}
	defer nc.Close()
	fmt.Printf("edgeload: %d CPUs, %s; NATS, edge and load clients in three processes on loopback\n\n",
		runtime.NumCPU(), runtime.Version())

	// Each scenario gets an edge process of its own, so that one's connections and memory do
	// not weigh on the next.
	withEdge := func(extra []string, fn func(srv ready, m *minter) error) error {
		es, err := spawn(append([]string{"server", "-nats", ns.ready.NATS}, extra...)...)
		if err != nil {
			return err
		}
		defer es.stop()
		m, err := fetchMinter(es.ready.Admin)
		if err != nil {
			return err
		}
		return fn(es.ready, m)
	}
	if want["idle"] || want["fanout"] {
		if err := withEdge(nil, func(srv ready, m *minter) error { return idleAndFanout(bf, want, srv, m, nc) }); err != nil {
			return err
		}
	}
	if want["chat"] {
		for _, store := range strings.Split(bf.chatStore, ",") {
			var extra []string
			switch strings.TrimSpace(store) {
			case "memory":
				extra = []string{"-stub-chat"}
			case "mongo":
				extra = []string{"-chat"}
				if bf.mongo != "" {
					extra = append(extra, "-mongo", bf.mongo)
				} else {
					// The store's directory is made and removed here, so that it goes even
					// when the edge process has to be killed.
					dir, err := os.MkdirTemp("", "edgeload-mongo-")
					if err != nil {
						return err
					}
					defer os.RemoveAll(dir)
					extra = append(extra, "-store-dir", dir)
				}
			default:
				return fmt.Errorf("-chat-store takes mongo and memory, not %q", store)
			}
			cf := bf
			cf.chatStore = strings.TrimSpace(store)
			if err := withEdge(extra, func(srv ready, m *minter) error { return chatLatency(cf, srv, m) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func getMem(admin string) (memReport, error) {
	var r memReport
	resp, err := http.Get(admin + "/bench/mem")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

func consumer(int) contracts.Principal {
	id := uuid.NewString()
	return contracts.Principal{UserID: id, Role: contracts.RoleConsumer, Email: "c-" + id[:8] + "@bench.test", DisplayName: "bench"}
}

func idleAndFanout(bf benchFlags, want map[string]bool, srv ready, m *minter, nc *nats.Conn) error {
	before, err := getMem(srv.Admin)
	if err != nil {
		return err
	}
	start := time.Now()
	conns, err := connectMany(srv.WS, m, bf.conns, 64, consumer)
	if err != nil {
		return fmt.Errorf("opening %d connections: %w", bf.conns, err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	opened := time.Since(start)
	time.Sleep(2 * time.Second) // let the edge settle (timers, pooled buffers) before measuring
	after, err := getMem(srv.Admin)
	if err != nil {
		return err
	}
	n := float64(bf.conns)
	if want["idle"] {
		rssPer := (float64(after.RSS) - float64(before.RSS)) / n
		goPer := (float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / n
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "IDLE CONNECTIONS (edge process)\t\t")
		fmt.Fprintf(tw, "authenticated connections\t%d (opened in %s)\n", after.Conns, opened.Round(time.Millisecond))
		fmt.Fprintf(tw, "RSS before / after\t%.1f MiB / %.1f MiB\n", float64(before.RSS)/(1<<20), float64(after.RSS)/(1<<20))
		fmt.Fprintf(tw, "RSS per connection\t%s\t(target ≤ 10 KiB: %s)\n", kib(rssPer), verdict(rssPer <= targetIdleBytes))
		fmt.Fprintf(tw, "Go heap+stacks per connection\t%s (heap %s, stacks %s)\n", kib(goPer),
			kib((float64(after.HeapInuse)-float64(before.HeapInuse))/n), kib((float64(after.StackInuse)-float64(before.StackInuse))/n))
		fmt.Fprintf(tw, "goroutines per connection\t%.2f\n", (float64(after.Goroutines)-float64(before.Goroutines))/n)
		_ = tw.Flush()
		fmt.Println()
	}
	if os.Getenv("EDGELOAD_HOLD") != "" { // profiling: keep the connections open for a while
		time.Sleep(20 * time.Second)
	}
	if want["fanout"] {
		return fanout(bf, conns, nc, srv.Admin)
	}
	return nil
}

// fanout pushes one notification to every connected user per round, as the notify service
// would (one push per user subject), and measures publish → receive for each.
//
// The load client is on the same two cores as the edge and NATS, so what it spends per push
// is taken from them: each connection writes its sample into a slot of its own (no lock
// shared by 10,000 readers) and the body's timestamp is read without a JSON decoder. The CPU
// each process spent per delivered push is printed, read without the forced GC of /bench/mem.
func fanout(bf benchFlags, conns []*wsConn, nc *nats.Conn, admin string) error {
	n := len(conns)
	// Round r, connection i: samples[r*n+i] in ns, 0: none. Atomic: a push that arrives as the
	// last round ends is written while the samples are read.
	samples := make([]atomic.Int64, n*bf.rounds)
	var round atomic.Int64
	var got atomic.Int64
	for i, c := range conns {
		c.Handle(func(_ *wsConn, f *frame, at time.Time) {
			if f.Type != "notification" {
				return
			}
			t := pushTime(f.Body)
			r := int(round.Load())
			if t > 0 && r < bf.rounds && samples[r*n+i].CompareAndSwap(0, int64(max(at.Sub(time.Unix(0, t)), 1))) {
				got.Add(1)
			}
		})
	}
	subjects := make([]string, n)
	for i, c := range conns {
		s, err := contracts.PushUserSubject(c.User.UserID)
		if err != nil {
			return err
		}
		subjects[i] = s
	}
	var bursts []time.Duration
	lost := 0
	// Opening 10,000 connections left the load client with ~100 MB of garbage; collected
	// during a round (it was, in about one run in two), its GC took a core from the edge for
	// 200 ms and showed as the edge's p99. The edge's own GCs are left to run as they come.
	runtime.GC()
	// The CPU is read around the rounds; the one-second pauses between rounds cost next to
	// nothing (idle connections).
	cpuBefore, err := fanoutCPU(admin)
	if err != nil {
		return err
	}
	for r := range bf.rounds {
		round.Store(int64(r))
		got.Store(0)
		start := time.Now()
		for i := range conns {
			body := fmt.Sprintf(`{"t":%d}`, time.Now().UnixNano())
			msg, _ := json.Marshal(contracts.Push{Topic: contracts.PushTopicNotification, Seq: uint64(r + 1), Body: json.RawMessage(body)})
			if err := nc.Publish(subjects[i], msg); err != nil {
				return err
			}
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for got.Load() < int64(n) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		bursts = append(bursts, time.Since(start))
		lost += n - int(got.Load())
		time.Sleep(time.Second)
	}
	round.Store(int64(bf.rounds)) // late pushes are not counted
	cpuAfter, err := fanoutCPU(admin)
	if err != nil {
		return err
	}
	var lat latencies
	for i := range samples {
		if d := time.Duration(samples[i].Load()); d > 0 {
			lat.Add(d)
		}
	}
	count, p50, p99, max := lat.Summary()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTIFICATION FAN-OUT (publish → receive, one push per user)\t\t")
	fmt.Fprintf(tw, "users × rounds\t%d × %d (%d received, %d missing)\n", n, bf.rounds, count, lost)
	fmt.Fprintf(tw, "p50\t%s\n", ms(p50))
	fmt.Fprintf(tw, "p99\t%s\t(target ≤ %d ms: %s)\n", ms(p99), targetFanoutP99.Milliseconds(), verdict(p99 <= targetFanoutP99 && lost == 0))
	fmt.Fprintf(tw, "max\t%s\n", ms(max))
	var worst time.Duration
	for _, b := range bursts {
		worst = max2(worst, b)
	}
	fmt.Fprintf(tw, "whole round (first publish → last receive), worst\t%s\n", ms(worst))
	if count > 0 {
		per := func(before, after int64) float64 {
			return float64(after-before) / float64(count) / float64(time.Microsecond)
		}
		fmt.Fprintf(tw, "edge process CPU per delivered push\t%.1f µs\n", per(cpuBefore.edge, cpuAfter.edge))
		fmt.Fprintf(tw, "CPU per push, NATS / load client (publish + receive)\t%.1f µs / %.1f µs\n",
			per(cpuBefore.nats, cpuAfter.nats), per(cpuBefore.client, cpuAfter.client))
	}
	fmt.Fprintf(tw, "machine load average (1 min) at the end\t%s\n", loadAvg())
	_ = tw.Flush()
	fmt.Println()
	return nil
}

// pushTime reads t out of a fan-out body {"t":<unix ns>}; 0 when there is none.
func pushTime(body []byte) int64 {
	i := bytes.Index(body, []byte(`"t":`))
	if i < 0 {
		return 0
	}
	t, err := strconv.ParseInt(string(bytes.TrimRight(body[i+4:], "} \n")), 10, 64)
	if err != nil {
		return 0
	}
	return t
}

// cpuSnapshot is the user+system CPU time of the three processes, in nanoseconds.
type cpuSnapshot struct{ edge, nats, client int64 }

func fanoutCPU(admin string) (cpuSnapshot, error) {
	var s cpuSnapshot
	resp, err := http.Get(admin + "/bench/cpu")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&s.edge); err != nil {
		return s, err
	}
	s.nats = procCPU(natsPID)
	s.client = cpuTime()
	return s, nil
}

// natsPID is the NATS child process, whose CPU the fan-out reports.
var natsPID int

// procCPU reads a process's user+system CPU time from /proc (Linux; 0 elsewhere).
func procCPU(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return (utime + stime) * int64(time.Second/clkTck)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
