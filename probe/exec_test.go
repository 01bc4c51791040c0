package probe

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topolab/topolab/topology"
)

// remoteNode is a node whose namespace this process cannot enter, as on a
// remote Docker daemon. Exec replays recorded busybox runs by argv.
type remoteNode struct {
	name       string
	recordings map[string]busyboxRecording
	ran        []string
}

func (n *remoteNode) Name() string            { return n.name }
func (n *remoteNode) Kind() topology.NodeKind { return topology.NodeContainer }
func (n *remoteNode) Do(func() error) error   { return topology.ErrNotLocal }

type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitStatus) ExitCode() int { return int(e) }

func (n *remoteNode) Exec(_ context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	key := strings.Join(argv, " ")
	n.ran = append(n.ran, key)
	rec, ok := n.recordings[key]
	if !ok {
		return fmt.Errorf("no recording for %q", key)
	}
	io.WriteString(stdout, rec.stdout)
	io.WriteString(stderr, rec.stderr)
	if rec.exit != 0 {
		return exitStatus(rec.exit)
	}
	return nil
}

type remoteLab struct {
	plan  *topology.Plan
	nodes map[string]topology.Node
}

func (l *remoteLab) Plan() *topology.Plan { return l.plan }
func (l *remoteLab) Nodes() []topology.Node {
	var out []topology.Node
	for _, n := range l.nodes {
		out = append(out, n)
	}
	return out
}
func (l *remoteLab) Node(name string) topology.Node { return l.nodes[name] }
func (l *remoteLab) Close(context.Context) error    { return nil }

// TestRunFallsBackToExec checks that a node whose namespace cannot be
// entered is probed through busybox inside it, and the output parsed.
func TestRunFallsBackToExec(t *testing.T) {
	m := loadModel(t, "alpine-net")
	node := &remoteNode{name: "alpine1", recordings: map[string]busyboxRecording{}}
	for _, f := range []string{"ping-ok-name.txt", "nslookup-nxdomain.txt"} {
		rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", f))
		node.recordings[strings.Join(rec.argv, " ")] = rec
	}
	lab := &remoteLab{plan: m.Plan, nodes: map[string]topology.Node{"alpine1": node}}
	specs := []topology.ProbeSpec{
		{From: "alpine1", To: "alpine2", Kind: topology.KindPing, By: topology.ByName},
		{From: "alpine1", To: "alpine3", Kind: topology.KindDNS, By: topology.ByName},
		{From: "alpine1", To: "alpine2", Kind: topology.KindUDP, By: topology.ByIP, Port: 53},
	}
	results := Run(context.Background(), lab, m, specs, RunOptions{})
	if r := results[0]; r.Result != OK || r.Address != "172.18.0.3" || r.Surprise {
		t.Errorf("ping by name: result %s address %s surprise %v (%s)", r.Result, r.Address, r.Surprise, r.Detail)
	}
	if r := results[1]; r.Result != NoName || r.Surprise {
		t.Errorf("dns of alpine3: result %s surprise %v (%s)", r.Result, r.Surprise, r.Detail)
	}
	if r := results[2]; r.Result != Error || !strings.Contains(r.Detail, "busybox has no UDP client") {
		t.Errorf("udp by exec: result %s detail %q", r.Result, r.Detail)
	}
	if len(node.ran) != 2 {
		t.Errorf("ran %d busybox commands, want 2: %v", len(node.ran), node.ran)
	}
}

// guardedHost is a host node that allows no target, standing in for the
// docker runtime's host, which is this machine's own namespace.
type guardedHost struct{ remoteNode }

func (h *guardedHost) AllowsTarget(netip.Addr) bool { return false }

// TestHostModeContainerUsesHostGuard checks that a container in host
// network mode, which shares the host's namespace, is held to the host's
// target guard.
func TestHostModeContainerUsesHostGuard(t *testing.T) {
	m := loadModel(t, "host")
	host := &guardedHost{remoteNode{name: "host"}}
	sidecar := &remoteNode{name: "sidecar"}
	lab := &remoteLab{plan: m.Plan, nodes: map[string]topology.Node{"host": host, "sidecar": sidecar}}
	specs := []topology.ProbeSpec{
		{From: "sidecar", To: "example.com", Kind: topology.KindPing, By: topology.ByName},
		{From: "sidecar", To: "app", Kind: topology.KindPing, By: topology.ByIP},
	}
	for i, r := range Run(context.Background(), lab, m, specs, RunOptions{}) {
		if r.Result != Error || !strings.Contains(r.Detail, "not sent") {
			t.Errorf("probe %d from the host-mode container: result %s detail %q, want it not sent", i, r.Result, r.Detail)
		}
	}
	if len(sidecar.ran) != 0 {
		t.Errorf("the host-mode container ran %v", sidecar.ran)
	}
}
