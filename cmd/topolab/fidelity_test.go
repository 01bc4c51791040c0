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
	"strconv"
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
// fails the test. None is accepted now: the host fixture's name lookups
// from its host-mode container, once accepted as error on the docker
// runtime, bind the uplink address 192.0.2.10 and reach the lab's outside
// DNS server.
var knownDifferences = []knownDifference{}

// fidelityRun is one runtime's observation of a fixture.
type fidelityRun struct {
	plan *topology.Plan
	// differences are the runtime's own report of where its lab differs
	// from the plan.
	differences []string
	results     []probe.Result
	checks      []probe.ExpectationResult
	elapsed     time.Duration
}

// TestFidelityBothRuntimes runs every fixture on the netns and the docker
// runtime. The observed results of the two must agree cell by cell, in
// result word and addresses, and each runtime must pass the fixture's
// expectations. Addresses Docker chooses itself, on the default bridge, are
// compared as the interface they belong to.
func TestFidelityBothRuntimes(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireDocker(t)
	testenv.LockDocker(t)
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
			t.Logf("%d cells; netns %v, docker %v", len(native.results)+len(native.checks),
				native.elapsed.Round(time.Millisecond), real.elapsed.Round(time.Millisecond))
			compareRuns(t, f.Name, engine, native, real)
			checkLabDifferences(t, f.Name, api, real.differences)
		})
	}
}

// newFidelityDocker returns a docker runtime whose probe image gets a
// topolab-responder built for the test.
func newFidelityDocker(t testing.TB) *docker.Runtime {
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
	var differences []string
	if d, ok := lab.(interface{ Differences() []string }); ok {
		differences = d.Differences()
	}
	m := probe.NewModel(labPlan(lab, plan))
	specs := append(m.Probes(), m.ExpectSpecs()...)
	all := probe.Run(ctx, lab, m, specs, probe.RunOptions{})
	n := len(specs) - len(m.ExpectSpecs())
	return &fidelityRun{
		plan:        m.Plan,
		differences: differences,
		results:     all[:n],
		checks:      m.CheckAll(all[n:]),
		elapsed:     time.Since(start),
	}
}

// knownLabDifference is a difference between the plan and the docker
// runtime's lab, as Lab.Differences words it, that the test accepts.
type knownLabDifference struct {
	fixture string
	// prefix starts the accepted sentence.
	prefix string
	// apiBelow is the first API version without the difference; "" for
	// every version.
	apiBelow string
	reason   string
}

// knownLabDifferences lists the accepted differences between the plan and
// the docker runtime's labs. Default-bridge addresses, which Docker
// assigns itself, are accepted in every fixture.
var knownLabDifferences = []knownLabDifference{
	{
		fixture: "alpine-net", prefix: "alpine4: Docker sorts its networks by their Docker names", apiBelow: "1.48",
		reason: "the lab's network tlf-alpine-net-alpine-net sorts after bridge, alpine-net before it, " +
			"and gw-priority, which restores the plan's order, needs API 1.48",
	},
	{
		fixture: "alpine-net", prefix: `alpine4 has its default route on "eth1", the plan says "eth0"`, apiBelow: "1.48",
		reason: "the consequence of the network order above",
	},
}

// checkLabDifferences fails t for every difference the docker runtime
// reports that knownLabDifferences does not accept.
func checkLabDifferences(t *testing.T, fixture, api string, differences []string) {
	t.Helper()
	for _, diff := range differences {
		if strings.Contains(diff, " on network "+topology.DefaultBridge+", the plan says ") {
			t.Logf("docker: %s (Docker assigns default-bridge addresses)", diff)
			continue
		}
		known := slices.ContainsFunc(knownLabDifferences, func(k knownLabDifference) bool {
			return k.fixture == fixture && strings.HasPrefix(diff, k.prefix) &&
				(k.apiBelow == "" || versionLess(api, k.apiBelow))
		})
		if known {
			t.Logf("docker: known lab difference: %s", diff)
			continue
		}
		t.Errorf("docker: lab differs from the plan: %s", diff)
	}
}

// versionLess compares API versions such as 1.41 and 1.48.
func versionLess(a, b string) bool {
	parse := func(v string) (int, int) {
		major, minor, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(major)
		y, _ := strconv.Atoi(minor)
		return x, y
	}
	am, an := parse(a)
	bm, bn := parse(b)
	return am < bm || am == bm && an < bn
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

// phaseTimes are the durations of one lab's up, probe and down.
type phaseTimes struct {
	up, probe, down time.Duration
	probes          int
	results         []probe.Result
}

// ringProbes returns the benchmark's fixed probe list: every container
// pings the next one by name and by address, and pings the outside host.
//
// The default probe set of a 50-container lab (about 8,000 probes) needs
// an ARP entry for every pair. Linux shares one ARP table among all
// network namespaces, limited by net.ipv4.neigh.default.gc_thresh3 (1024
// by default), so such a lab loses about a third of its pings to "neighbor
// table overflow" on either runtime, as real Docker would.
func ringProbes(plan *topology.Plan) []topology.ProbeSpec {
	var specs []topology.ProbeSpec
	n := len(plan.Containers)
	for i, c := range plan.Containers {
		next := plan.Containers[(i+1)%n].Name
		specs = append(specs,
			topology.ProbeSpec{From: c.Name, To: next, Kind: topology.KindPing, By: topology.ByName},
			topology.ProbeSpec{From: c.Name, To: next, Kind: topology.KindPing, By: topology.ByIP},
			topology.ProbeSpec{From: c.Name, To: "example.com", Kind: topology.KindPing, By: topology.ByIP},
		)
	}
	return specs
}

// timePhases builds plan on rt, runs the ring probes and tears it down,
// timing each step.
func timePhases(b *testing.B, rt topology.Runtime, plan *topology.Plan) phaseTimes {
	b.Helper()
	ctx := context.Background()
	var pt phaseTimes
	start := time.Now()
	lab, err := rt.Up(ctx, plan)
	if err != nil {
		b.Fatalf("%s: building lab %s: %v", rt.Name(), plan.Lab, err)
	}
	pt.up = time.Since(start)

	m := probe.NewModel(labPlan(lab, plan))
	specs := ringProbes(plan)
	start = time.Now()
	pt.results = probe.Run(ctx, lab, m, specs, probe.RunOptions{})
	pt.probe = time.Since(start)
	pt.probes = len(specs)

	start = time.Now()
	if err := lab.Close(ctx); err != nil {
		b.Fatalf("%s: closing lab %s: %v", rt.Name(), plan.Lab, err)
	}
	pt.down = time.Since(start)
	return pt
}

// BenchmarkBothRuntimes builds the same generated labs on the netns and
// the docker runtime in one run, and reports each runtime's up, probe and
// down times per lab and the docker/netns ratio of each. It also counts the
// cells whose result words differ between the runtimes, and the surprises
// of each runtime.
func BenchmarkBothRuntimes(b *testing.B) {
	testenv.RequireRoot(b)
	testenv.RequireDocker(b)
	testenv.LockDocker(b)
	dockerRT := newFidelityDocker(b)
	if _, err := dockerRT.ProbeImage(context.Background()); err != nil {
		b.Fatal(err)
	}
	netnsRT := netns.New(netns.Options{StateDir: b.TempDir()})

	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
			plan := testenv.BridgeLabPlan(b, fmt.Sprintf("tlb-both-%d", n), n)
			b.Cleanup(func() {
				err := dockerRT.Down(context.Background(), plan.Lab)
				if err != nil && !errors.Is(err, topology.ErrNoLab) {
					b.Errorf("removing lab %s: %v", plan.Lab, err)
				}
			})
			var native, real phaseTimes
			differing, surprises := 0, 0
			for b.Loop() {
				nt := timePhases(b, netnsRT, plan)
				dt := timePhases(b, dockerRT, plan)
				native.up, native.probe, native.down = native.up+nt.up, native.probe+nt.probe, native.down+nt.down
				real.up, real.probe, real.down = real.up+dt.up, real.probe+dt.probe, real.down+dt.down
				native.probes = nt.probes
				surprises += probe.Surprises(nt.results) + probe.Surprises(dt.results)
				for i := range nt.results {
					if i < len(dt.results) && nt.results[i].Result != dt.results[i].Result {
						differing++
					}
				}
			}
			runs := float64(b.N)
			for _, phase := range []struct {
				name           string
				native, docker time.Duration
			}{
				{"up", native.up, real.up},
				{"probe", native.probe, real.probe},
				{"down", native.down, real.down},
			} {
				b.ReportMetric(phase.native.Seconds()/runs, "netns-"+phase.name+"-s")
				b.ReportMetric(phase.docker.Seconds()/runs, "docker-"+phase.name+"-s")
				b.ReportMetric(phase.docker.Seconds()/phase.native.Seconds(), phase.name+"-ratio")
			}
			b.ReportMetric(float64(native.probes), "probes")
			b.ReportMetric(float64(differing)/runs, "differing-cells")
			b.ReportMetric(float64(surprises)/runs, "surprises")
		})
	}
}
