package main

import (
	"fmt"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func kib(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
