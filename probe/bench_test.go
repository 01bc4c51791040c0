package probe

import (
	"fmt"
	"strings"
	"testing"

	"github.com/topolab/topolab/topology"
)

// generatedLab returns a topology file of containers spread over networks:
// container i is on network i mod networks, every tenth also on the next
// one, every twentieth publishes a port, and probes lists the given number
// of explicit probes between neighbouring containers.
func generatedLab(containers, networks, probes int) string {
	var b strings.Builder
	b.WriteString("name: generated\nnetworks:\n")
	for n := 0; n < networks; n++ {
		fmt.Fprintf(&b, "  net%d: {}\n", n)
	}
	b.WriteString("containers:\n")
	for i := 0; i < containers; i++ {
		nets := fmt.Sprintf("net%d", i%networks)
		if i%10 == 0 {
			nets += fmt.Sprintf(", net%d", (i+1)%networks)
		}
		fmt.Fprintf(&b, "  c%d:\n    networks: [%s]\n    listen: [80/tcp]\n", i, nets)
		if i%20 == 0 {
			fmt.Fprintf(&b, "    ports: [\"%d:80\"]\n", 10000+i)
		}
	}
	b.WriteString("outside:\n  example.com: 203.0.113.10\nprobes:\n")
	kinds := []string{"ping", "dns", "http"}
	for p := 0; p < probes; p++ {
		from, to := p%containers, (p*7+1)%containers
		if from == to {
			to = (to + 1) % containers
		}
		by := "ip"
		if p%2 == 0 {
			by = "name"
		}
		kind := kinds[p%len(kinds)]
		if kind == "dns" {
			by = "name"
		}
		fmt.Fprintf(&b, "  - {from: c%d, to: c%d, kind: %s, by: %s}\n", from, to, kind, by)
	}
	return b.String()
}

// BenchmarkPlanPredict plans a 500-container, 30-network file and predicts
// its 500 explicit probes.
func BenchmarkPlanPredict(b *testing.B) {
	top, err := topology.Parse("generated.yaml", []byte(generatedLab(500, 30, 500)))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		plan, err := topology.PlanTopology(top)
		if err != nil {
			b.Fatal(err)
		}
		m := NewModel(plan)
		m.PredictAll(m.Probes())
	}
}

// BenchmarkPredictDefaultSet predicts the default probe set of a generated
// 50-container lab; the set grows with the square of the container count.
func BenchmarkPredictDefaultSet(b *testing.B) {
	top, err := topology.Parse("generated.yaml", []byte(generatedLab(50, 4, 0)))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		b.Fatal(err)
	}
	m := NewModel(plan)
	specs := m.DefaultProbes()
	b.ReportMetric(float64(len(specs)), "probes")
	b.ResetTimer()
	for b.Loop() {
		m.PredictAll(specs)
	}
}

// BenchmarkLoad parses and validates the generated 500-container file.
func BenchmarkLoad(b *testing.B) {
	data := []byte(generatedLab(500, 30, 500))
	for b.Loop() {
		if _, err := topology.Parse("generated.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
