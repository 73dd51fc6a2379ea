package load

import "testing"

// Every window of sum(weights) picks holds each choice exactly its weight.
func TestRoundRobinRunsTheMixInEveryWindow(t *testing.T) {
	weights := []int{1, 2, 25, 10, 15, 20, 10, 5, 12}
	rr := newRoundRobin(weights)
	for window := range 3 {
		got := make([]int, len(weights))
		for range rr.total {
			got[rr.next()]++
		}
		for i, w := range weights {
			if got[i] != w {
				t.Fatalf("window %d: choice %d picked %d times, want %d (%v)", window, i, got[i], w, got)
			}
		}
	}
}
