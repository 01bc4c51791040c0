//go:build linux

package docker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
)

func benchmarkUpDown(b *testing.B, n int) {
	r := newTestRuntime(b)
	plan := testenv.BridgeLabPlan(b, fmt.Sprintf("tlbench-%d", n), n)
	b.Cleanup(func() { removeLab(b, r, plan.Lab) })
	// Build the probe image outside the timed loop.
	if _, err := r.ProbeImage(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var up, down time.Duration
	for b.Loop() {
		start := time.Now()
		lab, err := r.Up(ctx, plan)
		if err != nil {
			b.Fatal(err)
		}
		up += time.Since(start)
		start = time.Now()
		if err := lab.Close(ctx); err != nil {
			b.Fatal(err)
		}
		down += time.Since(start)
	}
	b.ReportMetric(up.Seconds()/float64(b.N), "s-up/op")
	b.ReportMetric(down.Seconds()/float64(b.N), "s-down/op")
}

func BenchmarkUpDown10(b *testing.B) { benchmarkUpDown(b, 10) }
func BenchmarkUpDown50(b *testing.B) { benchmarkUpDown(b, 50) }
