//go:build linux

package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/topolab/topolab/capture"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// newAttachRuntime returns a second runtime on the test daemon, as another
// topolab process would have.
func newAttachRuntime(t *testing.T) *Runtime {
	t.Helper()
	r, err := New(Options{Host: "unix:///var/run/docker.sock", Responder: responderPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func attachLab(t *testing.T, r *Runtime, name string) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := r.Attach(ctx, name)
	if err != nil {
		t.Fatalf("Attach(%s): %v", name, err)
	}
	lab := l.(*Lab)
	t.Cleanup(func() { lab.Close(context.Background()) })
	return lab
}

// checkResults probes specs on lab and fails t for each result that is not
// the word at the same index of want.
func checkResults(t *testing.T, lab topology.Lab, specs []topology.ProbeSpec, want []string) {
	t.Helper()
	m := probe.NewModel(lab.Plan())
	results := probe.Run(context.Background(), lab, m, specs, probe.RunOptions{Timeout: 2 * time.Second})
	for i, r := range results {
		if r.Result != want[i] {
			t.Errorf("%s -> %s %s by %s (name %q): %s (%s), want %s", r.From, r.To, r.Kind, r.By, specs[i].Name, r.Result, r.Detail, want[i])
		}
	}
}

func TestAttachProbeExecDown(t *testing.T) {
	r := newTestRuntime(t)
	plan := loadPlan(t, "alpine-net", "tlt-attach")
	up := upLab(t, r, plan)

	extra := []topology.ProbeSpec{
		{From: "alpine1", To: "example.com", Kind: topology.KindDNS, By: topology.ByName},
		{From: "alpine1", To: "example.com", Kind: topology.KindHTTP, By: topology.ByName, Port: 80},
		{From: "alpine1", To: "alpine2", Kind: topology.KindDNS, By: topology.ByName, Name: "alpine2.alpine-net"},
		{From: "alpine4", To: "alpine1", Kind: topology.KindPing, By: topology.ByName, Name: "alpine1.alpine-net"},
	}
	extraWant := []string{probe.OK, probe.OK, probe.OK, probe.OK}

	// While the process that ran Up still serves the outside, a second
	// process attaches beside it.
	second := newAttachRuntime(t)
	beside := attachLab(t, second, plan.Lab)
	checkResults(t, beside, extra, extraWant)
	if err := beside.Close(context.Background()); err != nil {
		t.Fatalf("closing the attached lab: %v", err)
	}

	// Then the process that ran Up exits: its servers stop, the lab stays.
	up.outside.release()
	lab := attachLab(t, second, plan.Lab)
	if got, want := len(lab.Nodes()), len(up.Nodes()); got != want {
		t.Errorf("attached lab has %d nodes, want %d", got, want)
	}
	for _, c := range up.Plan().Containers {
		got := lab.Plan().Container(c.Name)
		for _, iface := range c.Interfaces {
			if gi := got.Interface(iface.Network); gi == nil || gi.Address != iface.Address || gi.HostVeth != iface.HostVeth {
				t.Errorf("%s on %s: attached plan has %+v, Up's has %+v", c.Name, iface.Network, gi, iface)
			}
		}
	}
	if len(lab.Plan().Topology.Expect) != len(plan.Topology.Expect) {
		t.Errorf("attached plan has %d expectations, want %d", len(lab.Plan().Topology.Expect), len(plan.Topology.Expect))
	}

	m := probe.NewModel(lab.Plan())
	results := probe.Run(context.Background(), lab, m, m.ExpectSpecs(), probe.RunOptions{Timeout: 2 * time.Second})
	for _, check := range m.CheckAll(results) {
		if !check.Passed {
			t.Errorf("expectation %s -> %s %s by %s: %s", check.From, check.To, check.Kind, check.By, check.Failure)
		}
	}
	checkResults(t, lab, extra, extraWant)

	var out, errOut bytes.Buffer
	if err := lab.Node("alpine1").Exec(context.Background(), []string{"nslookup", "alpine2.alpine-net"}, nil, &out, &errOut); err != nil {
		t.Errorf("exec nslookup in alpine1: %v\n%s%s", err, out.String(), errOut.String())
	}
	alpine2 := lab.Plan().Container("alpine2").Interface("alpine-net").Address.Addr().String()
	if !strings.Contains(out.String(), alpine2) {
		t.Errorf("nslookup alpine2.alpine-net in alpine1 printed %q, want %s in it", out.String(), alpine2)
	}
	if _, err := lab.HostVeths(); err != nil {
		t.Errorf("HostVeths of the attached lab: %v", err)
	}

	if err := lab.Close(context.Background()); err != nil {
		t.Fatalf("closing the attached lab: %v", err)
	}
	found, err := r.findLab(context.Background(), plan.Lab)
	if err != nil {
		t.Fatal(err)
	}
	if !found.any() {
		t.Fatal("closing an attached lab removed the lab")
	}
	if err := second.Down(context.Background(), plan.Lab); err != nil {
		t.Fatalf("Down: %v", err)
	}
	assertNoLeftovers(t, r, plan.Lab)
	if _, err := second.Attach(context.Background(), plan.Lab); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("Attach after Down: %v, want ErrNoLab", err)
	}
}

// udpDatagram is a UDP datagram read from a captured Ethernet frame.
type udpDatagram struct {
	src, dst netip.AddrPort
	payload  []byte
}

// udpDatagrams returns the IPv4 UDP datagrams captured on point.
func udpDatagrams(c *capture.Capture, point int) []udpDatagram {
	var out []udpDatagram
	for _, p := range c.Packets {
		d := p.Data
		if p.Point != point || len(d) < 14+20+8 || binary.BigEndian.Uint16(d[12:14]) != 0x0800 {
			continue
		}
		ip := d[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		src, _ := netip.AddrFromSlice(ip[12:16])
		dst, _ := netip.AddrFromSlice(ip[16:20])
		udp := ip[ihl:]
		out = append(out, udpDatagram{
			src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2])),
			dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4])),
			payload: udp[8:],
		})
	}
	return out
}

// TestHostResolvesThroughUplink checks that the host and a host-mode
// container reach the lab's outside DNS server at 192.0.2.1 only from the
// uplink address, and that no query of the lab appears on this machine's
// eth0, where a real router may have the same address. The capture on
// eth0 only reads.
func TestHostResolvesThroughUplink(t *testing.T) {
	r := newTestRuntime(t)
	plan := loadPlan(t, "host", "tlt-hostdns")
	lab := upLab(t, r, plan)

	for _, name := range []string{topology.HostNode, "sidecar"} {
		sel, ok := lab.Node(name).(topology.SourceSelector)
		if !ok {
			t.Fatalf("node %s has no SourceFor", name)
		}
		if got := sel.SourceFor(plan.Router); got != plan.Uplink.Addr() {
			t.Errorf("%s: SourceFor(%s) = %s, want %s", name, plan.Router, got, plan.Uplink.Addr())
		}
		if got := sel.SourceFor(netip.MustParseAddr("203.0.113.10")); got.IsValid() {
			t.Errorf("%s: SourceFor(203.0.113.10) = %s, want none", name, got)
		}
	}
	if sel := lab.Node("app").(topology.SourceSelector); sel.SourceFor(plan.Router).IsValid() {
		t.Errorf("app: SourceFor(%s) = %s, want none: it has a namespace of its own", plan.Router, sel.SourceFor(plan.Router))
	}

	points := []capture.Point{{Label: "machine eth0", Ifname: "eth0"}, {Label: "outside veth", Ifname: vethName(plan.Lab)}}
	session, err := capture.Start(context.Background(), points, capture.Options{NoPromiscuous: true})
	if err != nil {
		t.Fatalf("starting capture: %v", err)
	}
	specs := []topology.ProbeSpec{
		{From: topology.HostNode, To: "example.com", Kind: topology.KindDNS, By: topology.ByName},
		{From: "sidecar", To: "example.com", Kind: topology.KindDNS, By: topology.ByName},
		{From: "sidecar", To: "example.com", Kind: topology.KindPing, By: topology.ByName},
		{From: "sidecar", To: "app", Kind: topology.KindDNS, By: topology.ByName},
	}
	checkResults(t, lab, specs, []string{probe.OK, probe.OK, probe.OK, probe.NoName})
	c, err := session.Stop()
	if err != nil {
		t.Fatalf("stopping capture: %v", err)
	}

	query := []byte("\x07example\x03com\x00")
	queries := 0
	for _, d := range udpDatagrams(c, 1) {
		if d.dst.Port() != 53 {
			continue
		}
		queries++
		if d.src.Addr() != plan.Uplink.Addr() || d.dst.Addr() != plan.Router {
			t.Errorf("outside veth: DNS query %s -> %s, want %s -> %s:53", d.src, d.dst, plan.Uplink.Addr(), plan.Router)
		}
	}
	if queries < 4 {
		t.Errorf("outside veth: %d DNS queries, want at least 4 (one per probe)", queries)
	}
	for _, d := range udpDatagrams(c, 0) {
		if bytes.Contains(d.payload, query) || d.src.Addr() == plan.Uplink.Addr() {
			t.Errorf("machine eth0: lab datagram %s -> %s", d.src, d.dst)
		}
	}
	t.Logf("outside veth: %d DNS queries; eth0: %d UDP datagrams, none of the lab", queries, len(udpDatagrams(c, 0)))
}
