package capture

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/topolab/topolab/internal/testenv"
)

// pair is two namespaces joined by veth pairs gen<i> (in gen) and sink<i>
// (in sink), with addresses 198.51.100.<i*4+1> and .<i*4+2> on a /30 each.
type pair struct {
	gen, sink *testNS
	n         int
}

func newPair(t testing.TB, n int) *pair {
	testenv.RequireRoot(t)
	p := &pair{gen: newTestNS(t, "gen"), sink: newTestNS(t, "sink"), n: n}
	for i := range n {
		g, s := fmt.Sprintf("gen%d", i), fmt.Sprintf("sink%d", i)
		veth(t, p.gen, g, p.sink, s)
		p.gen.addAddr(t, g, fmt.Sprintf("198.51.100.%d/30", i*4+1))
		p.sink.addAddr(t, s, fmt.Sprintf("198.51.100.%d/30", i*4+2))
	}
	return p
}

func (p *pair) sinkAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i*4 + 2)}), 9)
}

func (p *pair) points(n int) []Point {
	var pts []Point
	for i := range n {
		pts = append(pts, Point{Label: fmt.Sprintf("sink%d", i), Ifname: fmt.Sprintf("sink%d", i), Do: p.sink.Do})
	}
	return pts
}

// udpSink binds a UDP socket in the sink on every sink address, so that the
// flood is not answered with ICMP port unreachable. Nothing reads them.
func (p *pair) udpSink(t testing.TB) {
	t.Helper()
	for i := range p.n {
		var c net.PacketConn
		err := p.sink.Do(func() error {
			var err error
			c, err = net.ListenPacket("udp4", p.sinkAddr(i).String())
			return err
		})
		if err != nil {
			t.Fatalf("binding UDP sink %s: %v", p.sinkAddr(i), err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// generator returns connected UDP sockets from gen to every sink address.
func (p *pair) generator(t testing.TB) []*net.UDPConn {
	t.Helper()
	var conns []*net.UDPConn
	for i := range p.n {
		var c *net.UDPConn
		err := p.gen.Do(func() error {
			var err error
			c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(p.sinkAddr(i)))
			return err
		})
		if err != nil {
			t.Fatalf("opening UDP generator to %s: %v", p.sinkAddr(i), err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	// Resolve the neighbours first, so that no flood packet waits in the
	// ARP queue.
	for _, c := range conns {
		c.Write([]byte("warm-up"))
	}
	time.Sleep(20 * time.Millisecond)
	return conns
}

// flood sends n small UDP packets round-robin over conns, in batches of
// up to 64 per sendmmsg call.
func flood(conns []*net.UDPConn, n int) int {
	return sendBatches(conns, n, 0)
}

// sendBatches sends n packets round-robin over conns in batches of 64, and
// when rate is positive sleeps between batches to keep to about rate
// packets per second in total.
func sendBatches(conns []*net.UDPConn, n, rate int) int {
	const batch = 64
	pcs := make([]*ipv4.PacketConn, len(conns))
	for i, c := range conns {
		pcs[i] = ipv4.NewPacketConn(c)
	}
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 18)}
	}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * batch / float64(rate))
	}
	next := time.Now()
	sent := 0
	for i := 0; sent < n && i < 4*n; i++ {
		k, err := pcs[i%len(pcs)].WriteBatch(msgs[:min(batch, n-sent)], 0)
		if err == nil {
			sent += k
		}
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		}
	}
	return sent
}

// stallFirst returns a read hook that blocks the reader after its first
// frame until release is called.
func stallFirst() (hook func(int), release func()) {
	gate := make(chan struct{})
	var once, closeOnce sync.Once
	hook = func(int) { once.Do(func() { <-gate }) }
	release = func() { closeOnce.Do(func() { close(gate) }) }
	return hook, release
}

func checkCountersAddUp(t *testing.T, c *Capture) {
	t.Helper()
	for _, st := range c.Stats {
		if st.Captured+st.LimitDrops+st.Undrained != st.KernelPackets-st.KernelDrops {
			t.Errorf("point %s: captured %d + limit drops %d + undrained %d != kernel packets %d - kernel drops %d",
				st.Label, st.Captured, st.LimitDrops, st.Undrained, st.KernelPackets, st.KernelDrops)
		}
	}
}

func TestDropsReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"socket", Options{Engine: EngineSocket}},
		{"ring", Options{Engine: EngineRing, RingSize: ringBlockSize}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 1)
			p.udpSink(t)
			conns := p.generator(t)
			hook, release := stallFirst()
			defer release()
			opts := tc.opts
			opts.afterRead = hook
			s, err := Start(context.Background(), p.points(1), opts)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() { release(); s.Stop() })

			sent := flood(conns, 20000)
			time.Sleep(50 * time.Millisecond) // let the ring retire its block
			release()
			c, err := s.Stop()
			if err != nil {
				t.Fatalf("Stop: %v", err)
			}

			st := c.Stats[0]
			t.Logf("sent %d: %+v; %s", sent, st, c.Summary())
			if st.KernelDrops == 0 {
				t.Fatalf("no kernel drops reported after a flood of %d frames against a stalled reader", sent)
			}
			if !strings.Contains(c.Summary(), "dropped by kernel") {
				t.Errorf("Summary() = %q, want it to name the kernel drops", c.Summary())
			}
			checkCountersAddUp(t, c)

			var buf bytes.Buffer
			if err := c.WritePcapng(&buf); err != nil {
				t.Fatal(err)
			}
			back, err := ReadPcapng(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if back.Stats[0].KernelDrops != c.Lost() {
				t.Errorf("pcapng statistics carry %d drops, want %d", back.Stats[0].KernelDrops, c.Lost())
			}
		})
	}
}

func TestLimitDropsReported(t *testing.T) {
	p := newPair(t, 1)
	p.udpSink(t)
	conns := p.generator(t)
	s, err := Start(context.Background(), p.points(1), Options{MaxPackets: 10})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	sent := flood(conns, 100)
	c, err := s.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if len(c.Packets) != 10 {
		t.Errorf("capture kept %d packets, want the limit of 10", len(c.Packets))
	}
	if got := c.Stats[0].LimitDrops; got < uint64(sent-10) {
		t.Errorf("LimitDrops = %d, want at least %d", got, sent-10)
	}
	if !strings.Contains(c.Summary(), "over the size limit") {
		t.Errorf("Summary() = %q, want it to name the size limit", c.Summary())
	}
	checkCountersAddUp(t, c)
}

func TestContextCancelStopsCapture(t *testing.T) {
	p := newPair(t, 1)
	p.udpSink(t)
	conns := p.generator(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, p.points(1), Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	flood(conns, 5)
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-s.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("capture still running 5s after its context was cancelled")
	}
	for _, r := range s.readers {
		select {
		case <-r.done:
		default:
			t.Errorf("reader of %s still running after cancel", r.point.Label)
		}
	}
	flood(conns, 5)
	c, err := s.Stop()
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	f := findFlow(c.Flows(), func(k FlowKey) bool { return k.Proto == ProtoUDP && k.Dst == p.sinkAddr(0) })
	if f == nil {
		t.Fatalf("no UDP flow to %s captured", p.sinkAddr(0))
	}
	if f.Forward.Packets != 5 {
		t.Errorf("capture has %d packets to %s, want the 5 sent before cancel", f.Forward.Packets, p.sinkAddr(0))
	}
	if again, _ := s.Stop(); again != c {
		t.Error("second Stop returned a different capture")
	}
}

func TestStartFailsOnMissingInterface(t *testing.T) {
	p := newPair(t, 1)
	points := append(p.points(1), Point{Label: "ghost", Ifname: "nosuch0", Do: p.sink.Do})
	_, err := Start(context.Background(), points, Options{})
	if err == nil {
		t.Fatal("Start succeeded on a missing interface")
	}
	if !strings.Contains(err.Error(), "ghost (nosuch0)") {
		t.Errorf("error %q does not name the point", err)
	}
}

func TestStartRejectsUnknownEngine(t *testing.T) {
	_, err := Start(context.Background(), []Point{{Label: "x", Ifname: "lo"}}, Options{Engine: "pcap"})
	if err == nil || !strings.Contains(err.Error(), `unknown engine "pcap"`) {
		t.Errorf("Start with engine pcap: error %v, want unknown engine", err)
	}
}

func TestSocketEngineLab(t *testing.T) {
	l := newTestLab(t)
	run := runTestLab(t, l, Options{Engine: EngineSocket})
	if run.Capture.Lost() != 0 {
		t.Errorf("socket capture lost packets: %s", run.Capture.Summary())
	}
	for _, st := range run.Capture.Stats {
		if st.Engine != EngineSocket {
			t.Errorf("point %s captured with engine %q, want %q", st.Label, st.Engine, EngineSocket)
		}
	}
	checkCountersAddUp(t, run.Capture)
	checkLabFlows(t, run.Capture.Flows(), run.ClientPort)
	checkLabNAT(t, run.Capture.NAT(run.Conntrack, labPorts()), run.ClientPort)
}

func TestStopAfterInterfaceRemoved(t *testing.T) {
	for _, engine := range []Engine{EngineSocket, EngineRing} {
		t.Run(string(engine), func(t *testing.T) {
			p := newPair(t, 1)
			p.udpSink(t)
			conns := p.generator(t)
			s, err := Start(context.Background(), p.points(1), Options{Engine: engine})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			flood(conns, 10)
			if err := p.gen.nl.LinkDel(p.gen.link(t, "gen0")); err != nil {
				t.Fatalf("deleting gen0: %v", err)
			}

			done := make(chan struct{})
			var c *Capture
			go func() {
				c, err = s.Stop()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Stop still running 5s after the interface was removed")
			}
			t.Logf("Stop: %v; %s", err, c.Summary())
			if c == nil {
				t.Fatal("Stop returned no capture")
			}
			if err != nil && !strings.Contains(err.Error(), "sink0") {
				t.Errorf("Stop error %q does not name the point", err)
			}
			if c.Lost() != 0 {
				t.Errorf("frames queued before the interface went away were lost: %s", c.Summary())
			}
		})
	}
}
