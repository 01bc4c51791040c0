package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestPredictionGolden pins the prediction of every fixture's probe set.
func TestPredictionGolden(t *testing.T) {
	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			m := loadModel(t, f.Name)
			got, err := json.MarshalIndent(m.PredictAll(m.Probes()), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			again, _ := json.MarshalIndent(loadModel(t, f.Name).PredictAll(m.Probes()), "", "  ")
			if !bytes.Equal(got, again) {
				t.Fatal("two predictions of the same file differ")
			}
			path := filepath.Join("testdata", f.Name+".predict.json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden file (run go test ./probe -update): %v", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("prediction differs from %s; run go test ./probe -update and review the diff", path)
			}
		})
	}
}

func TestDefaultProbesCoverLesson(t *testing.T) {
	m := loadModel(t, "nat")
	specs := m.DefaultProbes()
	has := func(from, to, kind, via string) bool {
		for _, s := range specs {
			if s.From == from && s.To == to && s.Kind == kind && s.Via == via {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ from, to, kind, via string }{
		{"client", "web1", "ping", ""},
		{"client", "web1", "dns", ""},
		{"client", "web1", "http", ""},
		{"web1", "example.com", "ping", ""},
		{"host", "web1", "ping", ""},
		{"host", "web1", "http", "localhost:8080"},
		{"host", "web1", "http", "uplink:8080"},
		{"host", "web1", "http", "172.17.0.1:8080"},
		{"example.com", "web1", "http", "uplink:8080"},
	} {
		if !has(want.from, want.to, want.kind, want.via) {
			t.Errorf("default probes lack %s -> %s %s via %q", want.from, want.to, want.kind, want.via)
		}
	}
}

func predictOne(t *testing.T, src string, spec topology.ProbeSpec) Result {
	t.Helper()
	top, err := topology.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	if spec.By == "" {
		spec.By = topology.ByIP
	}
	return NewModel(plan).Predict(spec)
}

// TestPredictDockerRules checks the rules a lesson may not cover.
func TestPredictDockerRules(t *testing.T) {
	const lab = `
networks:
  front: {}
  back: {internal: true}
  quiet: {icc: false}
containers:
  web: {networks: [front], ports: ["8080:80", "127.0.0.1:9090:90"], listen: [80/tcp, 90/tcp, 53/udp]}
  db: {networks: {back: {aliases: [database, store]}}}
  replica: {networks: {back: {aliases: [store]}}}
  app: {networks: [front, back]}
  q1: {networks: [quiet]}
  q2: {networks: [quiet]}
  side: {network_mode: "container:web"}
outside:
  example.com: 203.0.113.10
`
	for _, c := range []struct {
		spec     topology.ProbeSpec
		want     string
		reason   string
		seen     string
		resolved string
	}{
		{topology.ProbeSpec{From: "q1", To: "q2", Kind: "ping"}, Timeout, "Inter-container communication (icc) is off on quiet", "", ""},
		{topology.ProbeSpec{From: "db", To: "example.com", Kind: "ping"}, Unreachable, "no default route", "", ""},
		{topology.ProbeSpec{From: "db", To: "example.com", Kind: "dns", By: "name"}, NoName, "SERVFAIL", "", ""},
		{topology.ProbeSpec{From: "app", To: "db", Kind: "ping", By: "name", Name: "database"}, OK, "answers database from back", "", "172.19.0.2"},
		{topology.ProbeSpec{From: "app", To: "db", Kind: "dns", By: "name", Name: "store"}, OK, "", "", "172.19.0.2 172.19.0.3"},
		{topology.ProbeSpec{From: "web", To: "db", Kind: "ping", By: "name", Name: "database"}, NoName, "", "", ""},
		{topology.ProbeSpec{From: "app", To: "web", Kind: "http", Via: "gateway:8080"}, OK, "hairpin", "172.18.0.1", ""},
		{topology.ProbeSpec{From: "q1", To: "web", Kind: "http", Via: "gateway:8080"}, OK, "masquerade rewrites the source", "172.18.0.1", ""},
		{topology.ProbeSpec{From: "host", To: "web", Kind: "http", Via: "localhost:9090"}, OK, "docker-proxy", "172.18.0.1", ""},
		{topology.ProbeSpec{From: "host", To: "web", Kind: "http", Via: "uplink:9090"}, Refused, "No container publishes", "", ""},
		{topology.ProbeSpec{From: "example.com", To: "web", Kind: "http", Via: "uplink:8080"}, OK, "real client", "203.0.113.10", ""},
		{topology.ProbeSpec{From: "example.com", To: "web", Kind: "ping", By: "ip"}, Unreachable, "no route", "", ""},
		{topology.ProbeSpec{From: "host", To: "db", Kind: "ping"}, OK, "reaches every container address", "", ""},
		{topology.ProbeSpec{From: "side", To: "web", Kind: "http", Via: "localhost:80"}, OK, "own namespace", "127.0.0.1", ""},
		{topology.ProbeSpec{From: "app", To: "side", Kind: "udp", Port: 53}, OK, "web listens on 53/udp", "172.18.0.3", ""},
		{topology.ProbeSpec{From: "app", To: "web", Kind: "tcp", Port: 81}, Refused, "listens on no tcp port 81", "", ""},
	} {
		name := fmt.Sprintf("%s-%s-%s-%s%s", c.spec.From, c.spec.To, c.spec.Kind, c.spec.Name, c.spec.Via)
		t.Run(name, func(t *testing.T) {
			r := predictOne(t, lab, c.spec)
			if r.Predicted != c.want {
				t.Errorf("predicted %s, want %s (%s)", r.Predicted, c.want, r.Reason)
			}
			if !strings.Contains(r.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", r.Reason, c.reason)
			}
			if r.PredictedSource != c.seen {
				t.Errorf("predicted source %q, want %q", r.PredictedSource, c.seen)
			}
			if got := strings.Join(r.Resolved, " "); c.resolved != "" && got != c.resolved {
				t.Errorf("resolved %q, want %q", got, c.resolved)
			}
		})
	}
}

func TestProbeSetCountsDefaultSet(t *testing.T) {
	for _, f := range fixtures.List() {
		m := loadModel(t, f.Name)
		if got, want := m.defaultProbeCount(), len(m.DefaultProbes()); got != want {
			t.Errorf("%s: counted %d default probes, built %d", f.Name, got, want)
		}
	}
	top, err := topology.Parse("big.yaml", []byte(generatedLab(200, 4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewModel(plan).ProbeSet()
	if !errors.Is(err, ErrTooManyProbes) || !strings.Contains(err.Error(), "probes: section") {
		t.Errorf("ProbeSet of a 200-container lab: %v, want ErrTooManyProbes with the fix", err)
	}
}

// TestInternalGatewayDrops covers a plan in which an internal network
// carries the default route, as Docker Engine 20.10 sets it up: traffic
// leaving the subnet is dropped, not masqueraded.
func TestInternalGatewayDrops(t *testing.T) {
	top, err := topology.Parse("internal.yaml", []byte("networks:\n  sealed: {internal: true}\ncontainers:\n  lonely: {networks: [sealed]}\noutside:\n  example.com: 203.0.113.10\n"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	c := plan.Container("lonely")
	c.Gateway = c.Interfaces[0]
	r := NewModel(plan).Predict(topology.ProbeSpec{From: "lonely", To: "example.com", Kind: topology.KindPing, By: topology.ByIP})
	if r.Predicted != Timeout || !strings.Contains(r.Reason, "internal network") {
		t.Errorf("predicted %s (%s), want timeout because the network is internal", r.Predicted, r.Reason)
	}
}
