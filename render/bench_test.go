package render

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/topolab/topolab/topology"
)

// largePlan plans a generated topology of 500 containers on 30 networks:
// every container joins one network, every fifth a second one, and every
// tenth publishes a port.
func largePlan(tb testing.TB) *topology.Plan {
	tb.Helper()
	var b strings.Builder
	b.WriteString("name: large\nnetworks:\n")
	for n := 0; n < 30; n++ {
		fmt.Fprintf(&b, "  net%02d:\n    subnet: 10.%d.0.0/16\n", n, n)
		if n%7 == 6 {
			b.WriteString("    internal: true\n")
		}
	}

	b.WriteString("containers:\n")
	for c := 0; c < 500; c++ {
		fmt.Fprintf(&b, "  c%03d:\n    image: alpine\n    networks: [net%02d", c, c%30)
		if c%5 == 0 {
			fmt.Fprintf(&b, ", net%02d", (c/5+1)%30)
		}
		b.WriteString("]\n")
		if c%10 == 3 {
			fmt.Fprintf(&b, "    ports: [\"%d:80\"]\n    listen: [80/tcp]\n", 10000+c)
		}
	}
	b.WriteString("outside:\n  example.com: 203.0.113.10\n")

	topo, err := topology.Parse("large.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatalf("parsing generated topology: %v", err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		tb.Fatalf("planning generated topology: %v", err)
	}
	return plan
}

func BenchmarkDOTLarge(b *testing.B) {
	plan := largePlan(b)
	for b.Loop() {
		if _, err := DOT(plan, DiagramOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSVGLarge(b *testing.B) {
	plan := largePlan(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := SVG(ctx, plan, DiagramOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderDiagramLarge(b *testing.B) {
	plan := largePlan(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := RenderDiagram(ctx, plan, DiagramOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDrawPNGLarge measures drawing and encoding the PNG alone, from a
// layout made once.
func BenchmarkDrawPNGLarge(b *testing.B) {
	plan := largePlan(b)
	src, err := DOT(plan, DiagramOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out, err := layout(context.Background(), src, "json")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := drawPNG(out[0], 0); err != nil {
			b.Fatal(err)
		}
	}
}
