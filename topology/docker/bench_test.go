//go:build linux

package docker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/topology"
)

// generatedPlan plans a lab of n containers on one user network, every
// fifth of them also on the default bridge, with one outside host.
func generatedPlan(b testing.TB, lab string, n int) *topology.Plan {
	b.Helper()
	var y strings.Builder
	// An explicit subnet keeps the lab clear of the fixtures' 172.18.0.0/16.
	fmt.Fprintf(&y, "name: %s\nnetworks:\n  net: {subnet: 172.29.0.0/16}\ncontainers:\n", lab)
	for i := range n {
		nets := "[net]"
		if i%5 == 0 {
			nets = "[net, bridge]"
		}
		fmt.Fprintf(&y, "  c%d:\n    networks: %s\n", i, nets)
	}
	y.WriteString("outside:\n  example.com: 203.0.113.10\n")
	topo, err := topology.Parse(lab+".yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

func benchmarkUpDown(b *testing.B, n int) {
	r := newTestRuntime(b)
	plan := generatedPlan(b, fmt.Sprintf("tlbench-%d", n), n)
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
