package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

// dnsTestTopology exercises aliases shared by several containers, several
// networks per container, endpoint order and an internal network.
const dnsTestTopology = `
name: dnslab
networks:
  front: {}
  back: {internal: true}
  zeta: {}
containers:
  web1:
    hostname: webhost
    networks:
      front: {aliases: [web]}
      back: {aliases: [db-client]}
  web2:
    networks:
      front: {aliases: [web]}
  db:
    networks:
      back: {aliases: [database]}
  isolated:
    networks: [back]
  multi:
    networks: [zeta, front]
  preferzeta:
    networks:
      front: {}
      zeta: {gw_priority: 1}
  zonly:
    networks:
      zeta: {aliases: [web]}
outside:
  example.com: 203.0.113.10
`

func planYAML(t testing.TB, src string) *topology.Plan {
	t.Helper()
	top, err := topology.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing topology: %v", err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("planning topology: %v", err)
	}
	return plan
}

func planFixture(t testing.TB, name string) *topology.Plan {
	t.Helper()
	top, err := fixtures.Load(name)
	if err != nil {
		t.Fatalf("loading fixture %s: %v", name, err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("planning fixture %s: %v", name, err)
	}
	return plan
}

// addrOn returns the address of container c on network n of plan.
func addrOn(t testing.TB, plan *topology.Plan, c, n string) netip.Addr {
	t.Helper()
	pc := plan.Container(c)
	if pc == nil {
		t.Fatalf("no container %s", c)
	}
	iface := pc.Interface(n)
	if iface == nil {
		t.Fatalf("container %s is not on network %s", c, n)
	}
	return iface.Address.Addr()
}

// countingForward is a forward function that fails and counts its calls.
type countingForward struct {
	mu    sync.Mutex
	calls []string
}

func (f *countingForward) dial(_ context.Context, network, address string) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, network+" "+address)
	return nil, errors.New("no upstream in this test")
}

func (f *countingForward) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// answerAddrs returns the A record addresses of resp, sorted.
func answerAddrs(resp *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A)
			out = append(out, addr.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func sortedAddrs(addrs ...netip.Addr) []netip.Addr {
	out := slices.Clone(addrs)
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func TestEmbeddedDNSNames(t *testing.T) {
	plan := planYAML(t, dnsTestTopology)
	addr := func(c, n string) netip.Addr { return addrOn(t, plan, c, n) }
	web1ID := plan.Container("web1").ShortID
	tests := []struct {
		from, name string
		want       []netip.Addr // nil: the name must be left to upstream
	}{
		{"web1", "web2.", []netip.Addr{addr("web2", "front")}},
		{"web1", "WEB2.", []netip.Addr{addr("web2", "front")}},
		{"web1", "web2", []netip.Addr{addr("web2", "front")}},
		{"web1", "web.", []netip.Addr{addr("web1", "front"), addr("web2", "front")}},
		{"web1", "db.", []netip.Addr{addr("db", "back")}},
		{"web1", "database.", []netip.Addr{addr("db", "back")}},
		{"web1", "web1.", []netip.Addr{addr("web1", "front")}},
		{"web2", "webhost.", []netip.Addr{addr("web1", "front")}},
		{"web2", web1ID + ".", []netip.Addr{addr("web1", "front")}},
		{"web2", strings.ToUpper(web1ID) + ".", []netip.Addr{addr("web1", "front")}},
		{"web2", "db.", nil},
		{"web2", "db-client.", nil},
		{"db", "db-client.", []netip.Addr{addr("web1", "back")}},
		{"db", "web1.", []netip.Addr{addr("web1", "back")}},
		{"db", "web.", nil},
		// front sorts before zeta by name, so multi gets front's "web".
		{"multi", "web.", []netip.Addr{addr("web1", "front"), addr("web2", "front")}},
		{"multi", "web.zeta.", []netip.Addr{addr("zonly", "zeta")}},
		{"multi", "web.front.", []netip.Addr{addr("web1", "front"), addr("web2", "front")}},
		{"multi", "WEB.front.", []netip.Addr{addr("web1", "front"), addr("web2", "front")}},
		{"multi", "zonly.zeta.", []netip.Addr{addr("zonly", "zeta")}},
		{"multi", "zonly.front.", nil},
		// libnetwork compares network names case-sensitively.
		{"multi", "zonly.ZETA.", nil},
		// gw_priority puts zeta first for preferzeta.
		{"preferzeta", "web.", []netip.Addr{addr("zonly", "zeta")}},
		{"zonly", "web.", []netip.Addr{addr("zonly", "zeta")}},
		{"zonly", "web1.", nil},
		{"web1", "web1.back.", []netip.Addr{addr("web1", "back")}},
		{"web1", "web1.nosuch.", nil},
		{"web1", "example.com.", nil},
		{"web1", ".", nil},
	}
	for _, tt := range tests {
		t.Run(tt.from+"/"+tt.name, func(t *testing.T) {
			fwd := &countingForward{}
			d := NewEmbeddedDNS(plan, plan.Container(tt.from), fwd.dial, nil)
			name := dns.Fqdn(tt.name)
			resp := d.Answer(context.Background(), "udp", query(name, dns.TypeA))
			if tt.want == nil {
				// Containers only on internal networks never forward.
				wantForwards := 1
				if !hasExternalAccess(plan, plan.Container(tt.from)) {
					wantForwards = 0
				}
				if fwd.count() != wantForwards {
					t.Errorf("forwarded %d times, want %d", fwd.count(), wantForwards)
				}
				if resp.Rcode != dns.RcodeServerFailure {
					t.Errorf("rcode %s after a failed forward, want SERVFAIL", dns.RcodeToString[resp.Rcode])
				}
				return
			}
			if fwd.count() != 0 {
				t.Errorf("forwarded a local name: %v", fwd.calls)
			}
			if resp.Rcode != dns.RcodeSuccess {
				t.Fatalf("rcode %s, want NOERROR", dns.RcodeToString[resp.Rcode])
			}
			if got, want := answerAddrs(resp), sortedAddrs(tt.want...); !slices.Equal(got, want) {
				t.Errorf("addresses %v, want %v", got, want)
			}
		})
	}
}

func TestEmbeddedDNSReplyHeader(t *testing.T) {
	plan := planYAML(t, dnsTestTopology)
	d := NewEmbeddedDNS(plan, plan.Container("web1"), nil, nil)
	q := query("Web.", dns.TypeA)
	q.Id = 4242
	resp := d.Answer(context.Background(), "udp", q)
	if resp.Id != 4242 {
		t.Errorf("id %d, want 4242", resp.Id)
	}
	if !resp.Response {
		t.Error("QR flag not set")
	}
	if resp.Authoritative {
		t.Error("aa flag set; Docker's embedded DNS never sets it")
	}
	if !resp.RecursionAvailable {
		t.Error("ra flag not set")
	}
	if !resp.RecursionDesired {
		t.Error("rd flag of the query not copied")
	}
	if len(resp.Answer) != 2 {
		t.Fatalf("%d answers, want 2", len(resp.Answer))
	}
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Ttl != 600 {
			t.Errorf("TTL %d, want 600", h.Ttl)
		}
		if h.Name != "Web." {
			t.Errorf("owner name %q, want the name as asked, Web.", h.Name)
		}
		if h.Class != dns.ClassINET {
			t.Errorf("class %d, want IN", h.Class)
		}
	}
}

func TestEmbeddedDNSOtherTypes(t *testing.T) {
	plan := planYAML(t, dnsTestTopology)
	tests := []struct {
		name      string
		qtype     uint16
		local     bool
		wantNames []string // PTR targets
	}{
		{"web1.", dns.TypeAAAA, true, nil},
		{"web.", dns.TypeAAAA, true, nil},
		{"web1.", dns.TypeMX, true, nil},
		{"web1.", dns.TypeTXT, false, nil},
		{"web1.", dns.TypeSRV, false, nil},
		{"_http._tcp.web1.", dns.TypeSRV, false, nil},
		{"web1.", dns.TypeANY, false, nil},
		{"example.com.", dns.TypeAAAA, false, nil},
		{"example.com.", dns.TypeMX, false, nil},
		{reverse(t, addrOn(t, plan, "web2", "front")), dns.TypePTR, true, []string{"web2.front."}},
		{reverse(t, addrOn(t, plan, "web1", "front")), dns.TypePTR, true, []string{"web1.front."}},
		{reverse(t, addrOn(t, plan, "web1", "back")), dns.TypePTR, true, []string{"web1.back."}},
		{reverse(t, addrOn(t, plan, "zonly", "zeta")), dns.TypePTR, false, nil},
		{reverse(t, netip.MustParseAddr("203.0.113.10")), dns.TypePTR, false, nil},
		{strings.ToUpper(reverse(t, addrOn(t, plan, "web2", "front"))), dns.TypePTR, false, nil},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", dns.TypePTR, false, nil},
	}
	for _, tt := range tests {
		t.Run(dns.TypeToString[tt.qtype]+"/"+tt.name, func(t *testing.T) {
			fwd := &countingForward{}
			d := NewEmbeddedDNS(plan, plan.Container("web1"), fwd.dial, nil)
			resp := d.Answer(context.Background(), "udp", query(tt.name, tt.qtype))
			if !tt.local {
				if fwd.count() != 1 {
					t.Errorf("forwarded %d times, want once", fwd.count())
				}
				return
			}
			if fwd.count() != 0 {
				t.Errorf("forwarded a local query: %v", fwd.calls)
			}
			if resp.Rcode != dns.RcodeSuccess {
				t.Errorf("rcode %s, want NOERROR", dns.RcodeToString[resp.Rcode])
			}
			var got []string
			for _, rr := range resp.Answer {
				ptr, ok := rr.(*dns.PTR)
				if !ok {
					t.Errorf("unexpected answer %v", rr)
					continue
				}
				if ptr.Hdr.Ttl != 600 {
					t.Errorf("PTR TTL %d, want 600", ptr.Hdr.Ttl)
				}
				got = append(got, ptr.Ptr)
			}
			if !slices.Equal(got, tt.wantNames) {
				t.Errorf("answers %v, want %v", got, tt.wantNames)
			}
		})
	}
}

func reverse(t testing.TB, a netip.Addr) string {
	t.Helper()
	name, err := dns.ReverseAddr(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func TestEmbeddedDNSInternalOnly(t *testing.T) {
	plan := planYAML(t, dnsTestTopology)
	for _, name := range []string{"example.com.", "web2.", "nosuch."} {
		fwd := &countingForward{}
		d := NewEmbeddedDNS(plan, plan.Container("isolated"), fwd.dial, nil)
		resp := d.Answer(context.Background(), "udp", query(name, dns.TypeA))
		if resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", name, dns.RcodeToString[resp.Rcode])
		}
		if fwd.count() != 0 {
			t.Errorf("%s: forwarded from a container without external access: %v", name, fwd.calls)
		}
	}
	d := NewEmbeddedDNS(plan, plan.Container("isolated"), nil, nil)
	resp := d.Answer(context.Background(), "udp", query("db.", dns.TypeA))
	if got, want := answerAddrs(resp), []netip.Addr{addrOn(t, plan, "db", "back")}; !slices.Equal(got, want) {
		t.Errorf("db from isolated: %v, want %v", got, want)
	}
}

func TestEmbeddedDNSAlpineNet(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	addr := func(c, n string) netip.Addr { return addrOn(t, plan, c, n) }
	tests := []struct {
		from, name string
		want       []netip.Addr
	}{
		{"alpine1", "alpine2.", []netip.Addr{addr("alpine2", "alpine-net")}},
		{"alpine1", "alpine4.", []netip.Addr{addr("alpine4", "alpine-net")}},
		{"alpine1", "alpine2.alpine-net.", []netip.Addr{addr("alpine2", "alpine-net")}},
		{"alpine1", "alpine3.", nil},
		{"alpine4", "alpine1.", []netip.Addr{addr("alpine1", "alpine-net")}},
		{"alpine4", "alpine4.", []netip.Addr{addr("alpine4", "alpine-net")}},
		{"alpine4", "alpine3.", nil},
		{"alpine4", "alpine3.bridge.", nil},
	}
	for _, tt := range tests {
		fwd := &countingForward{}
		d := NewEmbeddedDNS(plan, plan.Container(tt.from), fwd.dial, nil)
		resp := d.Answer(context.Background(), "udp", query(tt.name, dns.TypeA))
		if tt.want == nil {
			if fwd.count() != 1 {
				t.Errorf("%s from %s: forwarded %d times, want once", tt.name, tt.from, fwd.count())
			}
			continue
		}
		if got, want := answerAddrs(resp), sortedAddrs(tt.want...); !slices.Equal(got, want) {
			t.Errorf("%s from %s: %v, want %v", tt.name, tt.from, got, want)
		}
	}
}

func TestNeedsEmbeddedDNS(t *testing.T) {
	tests := []struct {
		fixture, container string
		want               bool
	}{
		{"alpine-net", "alpine1", true},
		{"alpine-net", "alpine3", false},
		{"alpine-net", "alpine4", true},
		{"default-bridge", "alpine1", false},
		{"default-bridge", "alpine2", false},
		{"nat", "web1", false},
		{"nat", "client", false},
		{"host", "sidecar", false},
		{"host", "app", true},
		{"none", "isolated", false},
	}
	for _, tt := range tests {
		plan := planFixture(t, tt.fixture)
		if got := NeedsEmbeddedDNS(plan, plan.Container(tt.container)); got != tt.want {
			t.Errorf("%s/%s: NeedsEmbeddedDNS = %v, want %v", tt.fixture, tt.container, got, tt.want)
		}
	}
	plan := planYAML(t, strings.Replace(dnsTestTopology, "outside:",
		"  sharer:\n    network_mode: container:db\noutside:", 1))
	if !NeedsEmbeddedDNS(plan, plan.Container("sharer")) {
		t.Error("container sharing db's namespace: NeedsEmbeddedDNS = false, want true")
	}
}

func TestEmbeddedDNSTruncates(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: many\nnetworks:\n  net: {}\ncontainers:\n")
	for i := range 60 {
		fmt.Fprintf(&b, "  c%d:\n    networks:\n      net: {aliases: [shared]}\n", i)
	}
	plan := planYAML(t, b.String())
	d := NewEmbeddedDNS(plan, plan.Container("c0"), nil, nil)

	resp := d.Answer(context.Background(), "udp", query("shared.", dns.TypeA))
	if !resp.Truncated {
		t.Error("UDP reply with 60 records not truncated")
	}
	if packed, err := resp.Pack(); err != nil || len(packed) > dns.MinMsgSize {
		t.Errorf("UDP reply: %d bytes, error %v; want at most 512", len(packed), err)
	}

	edns := query("shared.", dns.TypeA)
	edns.SetEdns0(4096, false)
	if resp := d.Answer(context.Background(), "udp", edns); resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("UDP reply with EDNS 4096: truncated %v, %d answers; want all 60", resp.Truncated, len(resp.Answer))
	}
	if resp := d.Answer(context.Background(), "tcp", query("shared.", dns.TypeA)); resp.Truncated || len(resp.Answer) != 60 {
		t.Errorf("TCP reply: truncated %v, %d answers; want all 60", resp.Truncated, len(resp.Answer))
	}
}

func TestEmbeddedDNSNoQuestion(t *testing.T) {
	plan := planYAML(t, dnsTestTopology)
	d := NewEmbeddedDNS(plan, plan.Container("web1"), nil, nil)
	if resp := d.Answer(context.Background(), "udp", new(dns.Msg)); resp != nil {
		t.Errorf("reply to a query without question: %v", resp)
	}
}

// startLoopbackDNS serves handler on fresh loopback UDP and TCP sockets and
// returns their addresses. The servers stop when the test ends.
func startLoopbackDNS(t testing.TB, serve func(context.Context, net.PacketConn, net.Listener) error) (udpAddr, tcpAddr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, pc, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("DNS server on loopback: %v", err)
		}
	})
	return pc.LocalAddr().String(), ln.Addr().String()
}

// loopbackForward returns a forward function that records the requested
// address and dials the given loopback servers instead.
func loopbackForward(udpAddr, tcpAddr string, requested *[]string) DialFunc {
	var mu sync.Mutex
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		*requested = append(*requested, network+" "+address)
		mu.Unlock()
		target := udpAddr
		if network == "tcp" {
			target = tcpAddr
		}
		var d net.Dialer
		return d.DialContext(ctx, network, target)
	}
}

func TestEmbeddedDNSForwards(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	udpAddr, tcpAddr := startLoopbackDNS(t, NewOutsideDNS(plan.Outside).Serve)
	for _, network := range []string{"udp", "tcp"} {
		var requested []string
		d := NewEmbeddedDNS(plan, plan.Container("alpine1"), loopbackForward(udpAddr, tcpAddr, &requested), nil)

		q := query("example.com.", dns.TypeA)
		q.Id = 777
		resp := d.Answer(context.Background(), network, q)
		if resp.Rcode != dns.RcodeSuccess || resp.Id != 777 {
			t.Fatalf("%s: example.com: rcode %s id %d", network, dns.RcodeToString[resp.Rcode], resp.Id)
		}
		if got, want := answerAddrs(resp), []netip.Addr{netip.MustParseAddr("203.0.113.10")}; !slices.Equal(got, want) {
			t.Errorf("%s: example.com: %v, want %v", network, got, want)
		}
		if !resp.Authoritative {
			t.Errorf("%s: upstream's aa flag not relayed", network)
		}
		if want := []string{network + " 192.0.2.1:53"}; !slices.Equal(requested, want) {
			t.Errorf("%s: forward requests %v, want %v", network, requested, want)
		}

		resp = d.Answer(context.Background(), network, query("nosuch.example.", dns.TypeA))
		if resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s: nosuch.example: rcode %s, want NXDOMAIN relayed", network, dns.RcodeToString[resp.Rcode])
		}
	}
}

func TestEmbeddedDNSUpstreamFailure(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	for _, rcode := range []int{dns.RcodeServerFailure, dns.RcodeRefused} {
		udpAddr, tcpAddr := startLoopbackDNS(t, func(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
			return serveDNS(ctx, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
				_ = w.WriteMsg(new(dns.Msg).SetRcode(q, rcode))
			}), pc, ln)
		})
		var requested []string
		d := NewEmbeddedDNS(plan, plan.Container("alpine1"), loopbackForward(udpAddr, tcpAddr, &requested), nil)
		resp := d.Answer(context.Background(), "udp", query("example.com.", dns.TypeA))
		if resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("upstream %s: rcode %s, want SERVFAIL", dns.RcodeToString[rcode], dns.RcodeToString[resp.Rcode])
		}
	}
}

func TestEmbeddedDNSUpstreamTimeout(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	var requested []string
	d := NewEmbeddedDNS(plan, plan.Container("alpine1"),
		loopbackForward(silent.LocalAddr().String(), "", &requested), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	resp := d.Answer(ctx, "udp", query("example.com.", dns.TypeA))
	if resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("silent upstream: rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}

func TestEmbeddedDNSServe(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	upUDP, upTCP := startLoopbackDNS(t, NewOutsideDNS(plan.Outside).Serve)
	var requested []string
	d := NewEmbeddedDNS(plan, plan.Container("alpine1"), loopbackForward(upUDP, upTCP, &requested), nil)
	udpAddr, tcpAddr := startLoopbackDNS(t, d.Serve)

	alpine2 := addrOn(t, plan, "alpine2", "alpine-net")
	for _, c := range []struct{ network, addr string }{{"udp", udpAddr}, {"tcp", tcpAddr}} {
		client := &dns.Client{Net: c.network, Timeout: 5 * time.Second}
		resp, _, err := client.Exchange(query("alpine2.", dns.TypeA), c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.network, err)
		}
		if got := answerAddrs(resp); !slices.Equal(got, []netip.Addr{alpine2}) {
			t.Errorf("%s: alpine2: %v, want %v", c.network, got, alpine2)
		}
		resp, _, err = client.Exchange(query("example.com.", dns.TypeA), c.addr)
		if err != nil {
			t.Fatalf("%s: %v", c.network, err)
		}
		if got := answerAddrs(resp); len(got) != 1 || got[0] != netip.MustParseAddr("203.0.113.10") {
			t.Errorf("%s: example.com: %v", c.network, got)
		}
	}
}

func TestDNSServeStops(t *testing.T) {
	plan := planFixture(t, "alpine-net")
	d := NewEmbeddedDNS(plan, plan.Container("alpine1"), nil, nil)

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, pc, ln) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("TCP socket still accepts after Serve returned")
	}

	// A socket closed by someone else stops Serve with an error.
	pc2, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- d.Serve(context.Background(), pc2, ln2) }()
	time.Sleep(20 * time.Millisecond)
	ln2.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Serve after its listener closed = nil, want an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener closed")
	}
	if _, err := pc2.WriteTo([]byte("x"), pc2.LocalAddr()); err == nil {
		t.Error("UDP socket still open after Serve returned")
	}

	if err := d.Serve(context.Background(), nil, nil); err == nil {
		t.Error("Serve without sockets = nil, want an error")
	}
}

func TestOutsideDNS(t *testing.T) {
	plan := planFixture(t, "nat")
	s := NewOutsideDNS(plan.Outside)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []netip.Addr
	}{
		{"example.com.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{netip.MustParseAddr("203.0.113.10")}},
		{"EXAMPLE.com.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{netip.MustParseAddr("203.0.113.10")}},
		{"client.example.net.", dns.TypeA, dns.RcodeSuccess, []netip.Addr{netip.MustParseAddr("198.51.100.20")}},
		{"example.com.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"example.com.", dns.TypeMX, dns.RcodeSuccess, nil},
		{"www.example.com.", dns.TypeA, dns.RcodeNameError, nil},
		{"web1.", dns.TypeA, dns.RcodeNameError, nil},
		{"com.", dns.TypeA, dns.RcodeNameError, nil},
		{reverse(t, netip.MustParseAddr("203.0.113.10")), dns.TypePTR, dns.RcodeNameError, nil},
	}
	for _, tt := range tests {
		resp := s.Answer("udp", query(tt.name, tt.qtype))
		if resp.Rcode != tt.rcode {
			t.Errorf("%s %s: rcode %s, want %s", tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
		}
		if !resp.Authoritative {
			t.Errorf("%s %s: aa flag not set", tt.name, dns.TypeToString[tt.qtype])
		}
		if got := answerAddrs(resp); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

func FuzzDNSAnswer(f *testing.F) {
	plan := planYAML(f, dnsTestTopology)
	embedded := NewEmbeddedDNS(plan, plan.Container("web1"), (&countingForward{}).dial, nil)
	outside := NewOutsideDNS(plan.Outside)
	for _, q := range []*dns.Msg{
		query("web.", dns.TypeA),
		query("web1.front.", dns.TypeAAAA),
		query(reverse(f, addrOn(f, plan, "web2", "front")), dns.TypePTR),
		query("example.com.", dns.TypeMX),
	} {
		packed, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(packed, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		q := new(dns.Msg)
		if err := q.Unpack(data); err != nil {
			return
		}
		network := "udp"
		if tcp {
			network = "tcp"
		}
		for _, resp := range []*dns.Msg{
			embedded.Answer(context.Background(), network, q),
			outside.Answer(network, q),
		} {
			if len(q.Question) == 0 {
				if resp != nil {
					t.Fatalf("reply to a query without question")
				}
				continue
			}
			if resp == nil {
				t.Fatal("no reply to a query with a question")
			}
			if resp.Id != q.Id {
				t.Fatalf("reply id %d, query id %d", resp.Id, q.Id)
			}
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("reply does not pack: %v\n%v", err, resp)
			}
		}
	})
}

func BenchmarkEmbeddedDNSLocalAnswer(b *testing.B) {
	plan := planYAML(b, dnsTestTopology)
	d := NewEmbeddedDNS(plan, plan.Container("web1"), nil, nil)
	q := query("web.", dns.TypeA)
	for b.Loop() {
		if resp := d.Answer(context.Background(), "udp", q); len(resp.Answer) != 2 {
			b.Fatalf("%d answers, want 2", len(resp.Answer))
		}
	}
}
