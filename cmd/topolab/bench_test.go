package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/netns"
)

// benchLab returns a lab of n containers over four networks: container i is
// on network i mod 4, every fifth also on the next one, every third listens
// on 80/tcp and 53/udp, and one publishes 8080:80.
func benchLab(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnetworks:\n", name)
	for i := 0; i < 4; i++ {
		fmt.Fprintf(&b, "  net%d: {}\n", i)
	}
	b.WriteString("containers:\n")
	for i := 0; i < n; i++ {
		nets := fmt.Sprintf("net%d", i%4)
		if i%5 == 0 {
			nets += fmt.Sprintf(", net%d", (i+1)%4)
		}
		fmt.Fprintf(&b, "  c%d:\n    networks: [%s]\n", i, nets)
		if i%3 == 0 {
			b.WriteString("    listen: [80/tcp, 53/udp]\n")
		}
		if i == 0 {
			b.WriteString("    ports: [\"8080:80\"]\n")
		}
	}
	b.WriteString("outside:\n  example.com: 203.0.113.10\n")
	return b.String()
}

// BenchmarkDefaultProbeSet probes the default probe set of a 50-container
// netns lab, every kind, at several concurrency limits. Probes that are
// dropped cost one timeout each, so the limit decides how many of those
// timeouts overlap.
func BenchmarkDefaultProbeSet(b *testing.B) {
	testenv.RequireRoot(b)
	top, err := topology.Parse("bench.yaml", []byte(benchLab("bench-probe", 50)))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lab, err := netns.New(netns.Options{StateDir: b.TempDir()}).Up(ctx, plan)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lab.Close(context.Background()) })
	m := probe.NewModel(plan)
	specs := m.DefaultProbes()
	for _, concurrency := range []int{64, 1024, probe.DefaultConcurrency} {
		b.Run(fmt.Sprintf("concurrency-%d", concurrency), func(b *testing.B) {
			b.ReportMetric(float64(len(specs)), "probes")
			for b.Loop() {
				start := time.Now()
				results := probe.Run(ctx, lab, m, specs, probe.RunOptions{Concurrency: concurrency})
				if n := probe.Surprises(results); n > 0 {
					b.Errorf("%d surprises in %s", n, time.Since(start))
					shown := 0
					for _, r := range results {
						if r.Surprise && shown < 8 {
							shown++
							b.Logf("%s -> %s %s by %s %s: %s, predicted %s: %s", r.From, r.To, r.Kind, r.By, r.Address, r.Result, r.Predicted, r.Detail)
						}
					}
				}
			}
		})
	}
}
