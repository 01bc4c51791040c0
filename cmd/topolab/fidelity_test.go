//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
	"github.com/topolab/topolab/topology/docker"
	"github.com/topolab/topolab/topology/netns"
)

// fidelityLabPrefix starts the lab names of the fidelity test, so that its
// Docker objects never collide with a lab a user runs.
const fidelityLabPrefix = "tlf-"

// knownDifference is a cell where the docker runtime's observation may
// differ from the netns runtime's, with the reason. docs/fidelity.md
// records each one with the engine version and both results.
type knownDifference struct {
	fixture string
	// spec is the probe, as describeSpec writes it.
	spec string
	// netns and docker are the accepted result words of each runtime.
	netns, docker string
	// engine is the prefix of the Docker Engine versions that show the
	// difference; "" for every version.
	engine string
	// reason names the cause: a Docker version difference or a gap of a
	// runtime.
	reason string
}

// knownDifferences lists every accepted difference. Any other difference
// fails the test.
var knownDifferences = []knownDifference{
	hostResolverGap("sidecar -> example.com ping by name", probe.OK),
	hostResolverGap("sidecar -> example.com dns by name", probe.OK),
	hostResolverGap("sidecar -> app ping by name", probe.NoName),
	hostResolverGap("sidecar -> app dns by name", probe.NoName),
}

// hostResolverGap is a name lookup from the host-mode container of the host
// fixture. Its resolver is the outside router 192.0.2.1, and the docker
// runtime sends nothing there from this machine's own namespace except
// from the uplink address, which the probe does not bind.
func hostResolverGap(spec, netnsResult string) knownDifference {
	return knownDifference{
		fixture: "host", spec: spec, netns: netnsResult, docker: probe.Error,
		reason: "docker runtime gap: the host's resolver 192.0.2.1 is reached only from the uplink address 192.0.2.10",
	}
}

// fidelityRun is one runtime's observation of a fixture.
type fidelityRun struct {
	plan    *topology.Plan
	results []probe.Result
	checks  []probe.ExpectationResult
	elapsed time.Duration
}

// TestFidelityBothRuntimes runs every fixture on the netns and the docker
// runtime. The observed results of the two must agree cell by cell, in
// result word and addresses, and each runtime must pass the fixture's
// expectations. Addresses Docker chooses itself, on the default bridge, are
// compared as the interface they belong to.
func TestFidelityBothRuntimes(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireDocker(t)
	dockerRT := newFidelityDocker(t)
	engine, api, err := dockerRT.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Docker Engine %s, API %s", engine, api)
	netnsRT := netns.New(netns.Options{StateDir: t.TempDir()})

	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			native := runFidelity(t, netnsRT, f.Name)
			real := runFidelity(t, dockerRT, f.Name)
			t.Logf("netns %v, docker %v", native.elapsed.Round(time.Millisecond), real.elapsed.Round(time.Millisecond))
			compareRuns(t, f.Name, engine, native, real)
		})
	}
}

// newFidelityDocker returns a docker runtime whose probe image gets a
// topolab-responder built for the test.
func newFidelityDocker(t *testing.T) *docker.Runtime {
	t.Helper()
	responder := filepath.Join(t.TempDir(), "topolab-responder")
	build := exec.Command("go", "build", "-o", responder, "github.com/topolab/topolab/cmd/topolab-responder")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building topolab-responder: %v\n%s", err, out)
	}
	rt, err := docker.New(docker.Options{Host: "unix://" + testenv.DockerSocket, Responder: responder})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// runFidelity builds fixture on rt, probes the default probe set and the
// expectations, and tears the lab down.
func runFidelity(t *testing.T, rt topology.Runtime, fixture string) *fidelityRun {
	t.Helper()
	topo, err := fixtures.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	topo.Name = fidelityLabPrefix + fixture
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	t.Cleanup(func() {
		err := rt.Down(context.Background(), plan.Lab)
		if err != nil && !errors.Is(err, topology.ErrNoLab) {
			t.Errorf("%s: removing lab %s: %v", rt.Name(), plan.Lab, err)
		}
	})
	lab, err := rt.Up(ctx, plan)
	if err != nil {
		t.Fatalf("%s: building lab %s: %v", rt.Name(), plan.Lab, err)
	}
	defer func() {
		if err := lab.Close(context.Background()); err != nil {
			t.Errorf("%s: closing lab %s: %v", rt.Name(), plan.Lab, err)
		}
	}()
	if d, ok := lab.(interface{ Differences() []string }); ok {
		for _, diff := range d.Differences() {
			t.Logf("%s: %s", rt.Name(), diff)
		}
	}
	m := probe.NewModel(labPlan(lab, plan))
	specs := append(m.Probes(), m.ExpectSpecs()...)
	all := probe.Run(ctx, lab, m, specs, probe.RunOptions{})
	n := len(specs) - len(m.ExpectSpecs())
	return &fidelityRun{
		plan:    m.Plan,
		results: all[:n],
		checks:  m.CheckAll(all[n:]),
		elapsed: time.Since(start),
	}
}

// compareRuns fails t for every cell where the runtimes differ, unless
// knownDifferences accepts it, and for every failed expectation of either
// runtime that no known difference explains.
func compareRuns(t *testing.T, fixture, engine string, native, real *fidelityRun) {
	t.Helper()
	if len(native.results) != len(real.results) {
		t.Fatalf("netns probed %d cells, docker %d: the probe sets differ", len(native.results), len(real.results))
	}
	accepted := map[string]bool{}
	for i := range native.results {
		a, b := &native.results[i], &real.results[i]
		spec := describeSpec(a.Spec())
		if spec != describeSpec(b.Spec()) {
			t.Errorf("cell %d: netns probed %s, docker %s", i, spec, describeSpec(b.Spec()))
			continue
		}
		if a.Result != b.Result {
			if k := findKnown(fixture, spec, engine); k != nil && a.Result == k.netns && b.Result == k.docker {
				t.Logf("known difference: %s: netns %s, docker %s: %s", spec, a.Result, b.Result, k.reason)
				accepted[spec] = true
				continue
			}
			t.Errorf("%s: netns %s (%s), docker %s (%s)", spec, a.Result, a.Detail, b.Result, b.Detail)
			continue
		}
		for _, field := range []struct {
			name     string
			got, exp string
		}{
			{"address", mapAddress(real.plan, b.Address), mapAddress(native.plan, a.Address)},
			{"resolved", mapAddresses(real.plan, b.Resolved), mapAddresses(native.plan, a.Resolved)},
			{"seen source", mapSeen(real.plan, b.SeenSource), mapSeen(native.plan, a.SeenSource)},
		} {
			if field.got != field.exp {
				t.Errorf("%s: %s: netns %s, docker %s", spec, field.name, field.exp, field.got)
			}
		}
	}
	for _, run := range []struct {
		name   string
		checks []probe.ExpectationResult
	}{{"netns", native.checks}, {"docker", real.checks}} {
		for _, c := range run.checks {
			spec := describeSpec(c.Spec())
			if c.Passed {
				continue
			}
			if findKnown(fixture, spec, engine) != nil {
				t.Logf("%s: expectation %s fails as known: %s", run.name, spec, c.Failure)
				continue
			}
			t.Errorf("%s: expectation %s failed: %s", run.name, spec, c.Failure)
		}
	}
}

func findKnown(fixture, spec, engine string) *knownDifference {
	for i, k := range knownDifferences {
		if k.fixture == fixture && k.spec == spec && strings.HasPrefix(engine, k.engine) {
			return &knownDifferences[i]
		}
	}
	return nil
}

// describeSpec writes a probe as the test command prints it, with every
// field that tells two probes apart.
func describeSpec(s topology.ProbeSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s %s", s.From, s.To, s.Kind)
	if s.By != "" {
		fmt.Fprintf(&b, " by %s", s.By)
	}
	for _, f := range []struct{ name, value string }{{"network", s.Network}, {"name", s.Name}, {"via", s.Via}} {
		if f.value != "" {
			fmt.Fprintf(&b, " %s %s", f.name, f.value)
		}
	}
	if s.Port != 0 {
		fmt.Fprintf(&b, " port %d", s.Port)
	}
	return b.String()
}

// mapAddress writes an address the plan could not dictate, one Docker
// assigns on the default bridge, as the interface that carries it, such as
// alpine3@bridge. Every other address stays literal, so the runtimes must
// agree on it exactly.
func mapAddress(plan *topology.Plan, s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	for _, c := range plan.Containers {
		if iface := c.Interface(topology.DefaultBridge); iface != nil && iface.Address.Addr() == a {
			return c.Name + "@" + topology.DefaultBridge
		}
	}
	return s
}

func mapAddresses(plan *topology.Plan, list []string) string {
	mapped := make([]string, len(list))
	for i, s := range list {
		mapped[i] = mapAddress(plan, s)
	}
	slices.Sort(mapped)
	return strings.Join(mapped, ",")
}

func mapSeen(plan *topology.Plan, seen *string) string {
	if seen == nil {
		return "none"
	}
	return mapAddress(plan, *seen)
}
