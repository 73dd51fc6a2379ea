package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets from the issues.
const (
	TargetReqReply   = 0.90 // typed request-reply throughput ≥ 0.90× raw
	TargetConsumer   = 0.80 // typed consumer throughput ≥ 0.80× raw
	TargetResilience = 0.05 // resilience layer costs ≤ 5% throughput vs the plain typed call
)

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// PrintReqReply prints the request-reply table: each typed row against the raw row with the
// same caller count.
func PrintReqReply(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tcallers\tops/s\tp50\tp99\tCPU/op\tvs raw\ttarget\t")
	raw := map[int]Row{}
	for _, r := range rows {
		if r.Path == "raw nats.go Request" {
			raw[r.Callers] = r
		}
	}
	for _, r := range rows {
		ratio := r.Throughput() / raw[r.Callers].Throughput()
		target := ""
		if strings.HasPrefix(r.Path, "typed") {
			target = fmt.Sprintf("≥%.2f× %s", TargetReqReply, verdict(ratio >= TargetReqReply))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%.2f×\t%s\t\n", r.Path, r.Callers, r.Throughput(),
			dur(r.Percentile(0.5)), dur(r.Percentile(0.99)), dur(r.CPUPerOp()), ratio, target)
	}
	_ = tw.Flush()
}

// PrintResilience prints the cost of the resilience layer: the default client against the
// WithoutResilience client, per caller count, from the same interleaved run.
func PrintResilience(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "callers\tplain ops/s\tresilient ops/s\tplain p99\tresilient p99\tplain CPU/op\tresilient CPU/op\tratio\tloss\ttarget\t")
	plain := map[int]Row{}
	for _, r := range rows {
		if strings.Contains(r.Path, "WithoutResilience") {
			plain[r.Callers] = r
		}
	}
	for _, r := range rows {
		if !strings.Contains(r.Path, "default client") {
			continue
		}
		p := plain[r.Callers]
		ratio := r.Throughput() / p.Throughput()
		loss := 1 - ratio
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%.3f×\t%.1f%%\t≤%.0f%% %s\t\n", r.Callers, p.Throughput(), r.Throughput(),
			dur(p.Percentile(0.99)), dur(r.Percentile(0.99)), dur(p.CPUPerOp()), dur(r.CPUPerOp()), ratio, loss*100, TargetResilience*100, verdict(loss <= TargetResilience))
	}
	_ = tw.Flush()
}

// PrintConsumers prints the consumer table against the raw row.
func PrintConsumers(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tmsgs/s\tp50\tp99\tCPU/msg\tvs raw\ttarget\t")
	var raw Row
	for _, r := range rows {
		if strings.HasPrefix(r.Path, "raw") {
			raw = r
		}
	}
	for _, r := range rows {
		ratio := r.Throughput() / raw.Throughput()
		target := ""
		if !strings.HasPrefix(r.Path, "raw") {
			target = fmt.Sprintf("≥%.2f× %s", TargetConsumer, verdict(ratio >= TargetConsumer))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%.2f×\t%s\t\n", r.Path, r.Throughput(), dur(r.Percentile(0.5)), dur(r.Percentile(0.99)), dur(r.CPUPerOp()), ratio, target)
	}
	_ = tw.Flush()
}
