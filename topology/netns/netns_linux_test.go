package netns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/topolab/topolab/internal/responder"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linksIn returns the links of node n by name.
func linksIn(t testing.TB, n topology.Node) map[string]netlink.Link {
	t.Helper()
	out := map[string]netlink.Link{}
	err := n.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		links, err := h.LinkList()
		for _, l := range links {
			out[l.Attrs().Name] = l
		}
		return err
	})
	if err != nil {
		t.Fatalf("listing links of %s: %v", n.Name(), err)
	}
	return out
}

// addrsIn returns the IPv4 and IPv6 addresses of link name in node n.
func addrsIn(t testing.TB, n topology.Node, name string) []string {
	t.Helper()
	var out []string
	err := n.Do(func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		for _, a := range addrs {
			out = append(out, a.IPNet.String())
		}
		return err
	})
	if err != nil {
		t.Fatalf("listing addresses of %s in %s: %v", name, n.Name(), err)
	}
	return out
}

// defaultGateway returns the gateway of the default route in node n, or
// the zero Addr.
func defaultGateway(t testing.TB, n topology.Node) netip.Addr {
	t.Helper()
	var gw netip.Addr
	err := n.Do(func() error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				gw, _ = netip.AddrFromSlice(r.Gw.To4())
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("listing routes of %s: %v", n.Name(), err)
	}
	return gw
}

func TestUpAlpineNetLinks(t *testing.T) {
	l := upFixture(t, "alpine-net")
	plan := l.Plan()
	userNet := plan.Network("alpine-net")

	host := linksIn(t, mustNode(t, l, "host"))
	for _, name := range []string{"lo", "docker0", userNet.Bridge, uplinkName} {
		if host[name] == nil {
			t.Errorf("lab host has no link %s", name)
		}
	}
	if got := addrsIn(t, mustNode(t, l, "host"), "docker0"); len(got) != 1 || got[0] != "172.17.0.1/16" {
		t.Errorf("docker0 addresses = %v, want [172.17.0.1/16]", got)
	}
	if got := addrsIn(t, mustNode(t, l, "host"), uplinkName); len(got) != 1 || got[0] != "192.0.2.10/24" {
		t.Errorf("uplink addresses = %v, want [192.0.2.10/24]", got)
	}
	if gw := defaultGateway(t, mustNode(t, l, "host")); gw != topology.OutsideRouter {
		t.Errorf("lab host default gateway = %v, want %v", gw, topology.OutsideRouter)
	}
	if got := readFileIn(t, mustNode(t, l, "host"), "/proc/sys/net/ipv4/ip_forward"); got != "1" {
		t.Errorf("lab host ip_forward = %s, want 1", got)
	}

	for _, c := range plan.Containers {
		n := mustNode(t, l, c.Name)
		links := linksIn(t, n)
		if lo := links["lo"]; lo == nil || lo.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("%s: lo missing or down", c.Name)
		}
		if len(links) != len(c.Interfaces)+1 {
			t.Errorf("%s has links %v, want lo and %d interfaces", c.Name, keys(links), len(c.Interfaces))
		}
		for _, i := range c.Interfaces {
			link := links[i.Name]
			if link == nil {
				t.Errorf("%s has no %s", c.Name, i.Name)
				continue
			}
			if link.Attrs().HardwareAddr.String() != i.MAC {
				t.Errorf("%s %s MAC = %s, want %s", c.Name, i.Name, link.Attrs().HardwareAddr, i.MAC)
			}
			if got := addrsIn(t, n, i.Name); len(got) != 1 || got[0] != i.Address.String() {
				t.Errorf("%s %s addresses = %v, want only %s", c.Name, i.Name, got, i.Address)
			}
			hostEnd := host[i.HostVeth]
			if hostEnd == nil {
				t.Errorf("lab host has no veth %s for %s %s", i.HostVeth, c.Name, i.Name)
				continue
			}
			bridge := host[plan.Network(i.Network).Bridge]
			if hostEnd.Attrs().MasterIndex != bridge.Attrs().Index {
				t.Errorf("veth %s is not enslaved to %s", i.HostVeth, bridge.Attrs().Name)
			}
			if link.Attrs().ParentIndex != hostEnd.Attrs().Index {
				t.Errorf("%s %s peer index = %d, want %d (%s)", c.Name, i.Name,
					link.Attrs().ParentIndex, hostEnd.Attrs().Index, i.HostVeth)
			}
			path := "/proc/sys/net/ipv6/conf/" + i.Name + "/disable_ipv6"
			if got := readFileIn(t, n, path); got != "1" {
				t.Errorf("%s %s disable_ipv6 = %s, want 1", c.Name, i.Name, got)
			}
		}
		want := plan.Network(c.Gateway.Network).Gateway
		if gw := defaultGateway(t, n); gw != want {
			t.Errorf("%s default gateway = %v, want %v", c.Name, gw, want)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestUpAlpineNetReachability(t *testing.T) {
	l := upFixture(t, "alpine-net")
	example := netip.MustParseAddr("203.0.113.10")
	cases := []struct {
		from string
		to   netip.Addr
		want string
	}{
		{"alpine1", addressOf(t, l, "alpine2", "alpine-net"), resultOK},
		{"alpine1", addressOf(t, l, "alpine4", "alpine-net"), resultOK},
		{"alpine1", addressOf(t, l, "alpine3", "bridge"), resultTimeout},
		{"alpine4", addressOf(t, l, "alpine3", "bridge"), resultOK},
		{"alpine3", addressOf(t, l, "alpine4", "bridge"), resultOK},
		{"alpine3", addressOf(t, l, "alpine4", "alpine-net"), resultTimeout},
		{"alpine3", addressOf(t, l, "alpine1", "alpine-net"), resultTimeout},
		{"alpine1", example, resultOK},
		{"alpine3", example, resultOK},
		{"alpine1", netip.MustParseAddr("172.17.0.1"), resultOK},
		{"host", addressOf(t, l, "alpine1", "alpine-net"), resultOK},
		{"host", addressOf(t, l, "alpine3", "bridge"), resultOK},
		{"host", example, resultOK},
		{"example.com", netip.MustParseAddr("192.0.2.10"), resultOK},
		{"example.com", addressOf(t, l, "alpine1", "alpine-net"), resultUnreachable},
	}
	for _, c := range cases {
		if got := ping(t, mustNode(t, l, c.from), c.to); got != c.want {
			t.Errorf("ping %s -> %s = %s, want %s", c.from, c.to, got, c.want)
		}
	}
}

func TestModes(t *testing.T) {
	l := upYAML(t, `
name: modes
networks:
  app-net: {}
containers:
  app:
    networks: [app-net]
    listen: [80/tcp]
  sidecar:
    network_mode: container:app
  hostish:
    network_mode: host
    listen: [8000/tcp]
  isolated:
    network_mode: none
`)
	if got := keys(linksIn(t, mustNode(t, l, "isolated"))); len(got) != 1 || got[0] != "lo" {
		t.Errorf("none-mode links = %v, want [lo]", got)
	}
	if got := addrsIn(t, mustNode(t, l, "isolated"), "lo"); len(got) != 1 || got[0] != "127.0.0.1/8" {
		t.Errorf("none-mode lo addresses = %v, want only 127.0.0.1/8", got)
	}
	if got := ping(t, mustNode(t, l, "isolated"), netip.MustParseAddr("172.17.0.1")); got != resultUnreachable {
		t.Errorf("ping from none mode = %s, want %s", got, resultUnreachable)
	}
	app := addressOf(t, l, "app", "app-net")
	if _, ok := linksIn(t, mustNode(t, l, "sidecar"))["eth0"]; !ok {
		t.Errorf("container-mode sidecar does not see app's eth0")
	}
	if res, server, _ := hello(t, mustNode(t, l, "sidecar"), "127.0.0.1:80"); res != resultOK || server != "app" {
		t.Errorf("sidecar -> localhost:80 = %s %s, want ok from app", res, server)
	}
	if _, ok := linksIn(t, mustNode(t, l, "hostish"))["docker0"]; !ok {
		t.Errorf("host-mode container does not see docker0")
	}
	gw := l.Plan().Network("app-net").Gateway
	res, server, client := hello(t, mustNode(t, l, "app"), netip.AddrPortFrom(gw, 8000).String())
	if res != resultOK || server != "hostish" || clientIP(client) != app.String() {
		t.Errorf("app -> gateway:8000 = %s %s %s, want ok from hostish seeing %s", res, server, client, app)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPublishedPorts(t *testing.T) {
	l := upFixture(t, "nat")
	web1 := addressOf(t, l, "web1", "bridge")
	cases := []struct {
		from, addr string
		want       string
		wantClient string // "" for any
	}{
		// From outside: DNAT keeps the real client address.
		{"client.example.net", "192.0.2.10:8080", resultOK, "198.51.100.20"},
		// From the host to its own uplink address: OUTPUT DNAT.
		{"host", "192.0.2.10:8080", resultOK, "192.0.2.10"},
		// Another container straight to the container port.
		{"client", web1.String() + ":80", resultOK, addressOf(t, l, "client", "bridge").String()},
		// The host port is not open on the container.
		{"client", web1.String() + ":8080", resultRefused, ""},
		// Masquerade on the way out.
		{"web1", "203.0.113.10:80", resultOK, "192.0.2.10"},
		// The outside cannot route to container addresses.
		{"example.com", web1.String() + ":80", resultUnreachable, ""},
		// The host to 127.0.0.1 goes through the userland proxy.
		{"host", "127.0.0.1:8080", resultOK, "172.17.0.1"},
		// Hairpin: containers of web1's own network reach the published
		// port on host addresses through the proxy too.
		{"client", "172.17.0.1:8080", resultOK, "172.17.0.1"},
		{"web1", "192.0.2.10:8080", resultOK, "172.17.0.1"},
	}
	for _, c := range cases {
		res, server, client := hello(t, mustNode(t, l, c.from), c.addr)
		if res != c.want {
			t.Errorf("%s -> %s = %s, want %s", c.from, c.addr, res, c.want)
			continue
		}
		if c.wantClient != "" && clientIP(client) != c.wantClient {
			t.Errorf("%s -> %s: server %s saw client %s, want %s", c.from, c.addr, server, client, c.wantClient)
		}
	}
}

func TestICCAndInternal(t *testing.T) {
	l := upYAML(t, `
name: icc
networks:
  closed: {icc: false}
  private: {internal: true}
containers:
  c1: {networks: [closed], listen: [80/tcp]}
  c2: {networks: [closed]}
  p1: {networks: [private]}
  p2: {networks: [private]}
  o1: {}
outside:
  example.com: 203.0.113.10
`)
	plan := l.Plan()
	cases := []struct {
		from string
		to   netip.Addr
		want string
	}{
		{"c1", addressOf(t, l, "c2", "closed"), resultTimeout},
		{"c1", plan.Network("closed").Gateway, resultOK},
		{"c1", netip.MustParseAddr("203.0.113.10"), resultOK},
		{"p1", addressOf(t, l, "p2", "private"), resultOK},
		{"p1", netip.MustParseAddr("203.0.113.10"), resultUnreachable},
		{"p1", plan.Network("private").Gateway, resultOK},
		{"host", addressOf(t, l, "p1", "private"), resultOK},
		{"o1", addressOf(t, l, "p1", "private"), resultTimeout},
		{"host", addressOf(t, l, "c2", "closed"), resultOK},
	}
	for _, c := range cases {
		if got := ping(t, mustNode(t, l, c.from), c.to); got != c.want {
			t.Errorf("ping %s -> %s = %s, want %s", c.from, c.to, got, c.want)
		}
	}
	if gw := defaultGateway(t, mustNode(t, l, "p1")); gw.IsValid() {
		t.Errorf("container on an internal network has default gateway %v", gw)
	}
}

func TestTwoLabsSideBySide(t *testing.T) {
	a := upFixture(t, "alpine-net")
	b := upFixture(t, "default-bridge")
	if got := ping(t, mustNode(t, a, "alpine1"), addressOf(t, a, "alpine2", "alpine-net")); got != resultOK {
		t.Errorf("lab alpine-net: alpine1 -> alpine2 = %s", got)
	}
	if got := ping(t, mustNode(t, b, "alpine1"), addressOf(t, b, "alpine2", "bridge")); got != resultOK {
		t.Errorf("lab default-bridge: alpine1 -> alpine2 = %s", got)
	}
	// Both labs use 172.17.0.2 for a container, in separate namespaces.
	aIno := nsInode(t, mustNode(t, a, "host"))
	bIno := nsInode(t, mustNode(t, b, "host"))
	if aIno == bIno {
		t.Errorf("both labs share lab host namespace %d", aIno)
	}
}

func TestUpSameNameRejected(t *testing.T) {
	testenv.RequireRoot(t)
	plan, err := loadPlan("default-bridge")
	if err != nil {
		t.Fatal(err)
	}
	rt := New(Options{StateDir: t.TempDir()})
	l, err := rt.Up(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	_, err = rt.Up(context.Background(), plan)
	if !errors.Is(err, topology.ErrLabExists) {
		t.Fatalf("second Up error = %v, want ErrLabExists", err)
	}
	if !strings.Contains(err.Error(), "topolab down default-bridge") {
		t.Errorf("error %q does not name `topolab down default-bridge`", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	l2, err := rt.Up(context.Background(), plan)
	if err != nil {
		t.Fatalf("Up after Close: %v", err)
	}
	l2.Close(context.Background())
}

func nsInode(t testing.TB, n topology.Node) uint64 {
	t.Helper()
	s := readLinkIn(t, n, "/proc/thread-self/ns/net")
	ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(s, "net:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return ino
}

func readLinkIn(t testing.TB, n topology.Node, path string) string {
	t.Helper()
	var s string
	if err := n.Do(func() (err error) { s, err = os.Readlink(path); return err }); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExecRunsInNamespace(t *testing.T) {
	l := upFixture(t, "default-bridge")
	for _, name := range []string{"alpine1", "host", "example.com"} {
		n := mustNode(t, l, name)
		var out strings.Builder
		t.Setenv(envPrintNetns, "1")
		if err := n.Exec(context.Background(), []string{"/proc/self/exe"}, nil, &out, os.Stderr); err != nil {
			t.Fatalf("Exec in %s: %v", name, err)
		}
		want := strconv.FormatUint(nsInode(t, n), 10)
		if got := strings.TrimSpace(out.String()); got != want {
			t.Errorf("Exec in %s ran in namespace %s, want %s", name, got, want)
		}
	}
}

func TestUpCancelledRollsBack(t *testing.T) {
	testenv.RequireRoot(t)
	plan, err := loadPlan("alpine-net")
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rt := New(Options{StateDir: t.TempDir()})
	if _, err := rt.Up(ctx, plan); !errors.Is(err, context.Canceled) {
		t.Fatalf("Up with cancelled context: error %v, want context.Canceled", err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("open file descriptors changed in a cancelled Up:\nbefore: %s\nafter:  %s", before, after)
	}
	l, err := rt.Up(context.Background(), plan)
	if err != nil {
		t.Fatalf("Up after a cancelled Up: %v", err)
	}
	l.Close(context.Background())
}

func TestUpFailureRollsBack(t *testing.T) {
	testenv.RequireRoot(t)
	// A listen port that a host-mode container shares with another
	// host-mode container fails in the last step of Up.
	top, err := topology.Parse("clash.yaml", []byte(`
name: clash
containers:
  a: {network_mode: host, listen: [80/tcp]}
  b: {network_mode: host, listen: [80/tcp]}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	rt := New(Options{StateDir: t.TempDir()})
	if _, err := rt.Up(context.Background(), plan); err == nil {
		t.Fatal("Up with two servers on one port succeeded")
	}
	if after := openFDs(t); after != before {
		t.Errorf("open file descriptors changed in a failed Up:\nbefore: %s\nafter:  %s", before, after)
	}
}

// openFDs returns the targets of the process's open file descriptors that
// are network namespaces or sockets, sorted. Pipes are left out because
// os/exec closes those of earlier tests asynchronously.
func openFDs(t testing.TB) string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && (strings.HasPrefix(target, "net:") || strings.HasPrefix(target, "socket:")) {
			targets = append(targets, target)
		}
	}
	sort.Strings(targets)
	return strings.Join(targets, " ")
}

func TestPublishedPortFromOtherNetwork(t *testing.T) {
	l := upYAML(t, `
name: cross
networks:
  front: {}
containers:
  web: {ports: ["8080:80", "127.0.0.1:9090:80", "5353:53/udp"], listen: [80/tcp, 53/udp]}
  other: {networks: [front]}
outside:
  client.example.net: 198.51.100.20
`)
	front := l.Plan().Network("front").Gateway.String()
	cases := []struct {
		from, addr, want, wantClient string
	}{
		// DNAT, then masquerade on the way into docker0.
		{"other", front + ":8080", resultOK, "172.17.0.1"},
		{"other", "192.0.2.10:8080", resultOK, "172.17.0.1"},
		// A 127.0.0.1 binding is reachable from the host only.
		{"host", "127.0.0.1:9090", resultOK, "172.17.0.1"},
		{"other", front + ":9090", resultRefused, ""},
	}
	for _, c := range cases {
		res, _, client := hello(t, mustNode(t, l, c.from), c.addr)
		if res != c.want {
			t.Errorf("%s -> %s = %s, want %s", c.from, c.addr, res, c.want)
			continue
		}
		if c.wantClient != "" && clientIP(client) != c.wantClient {
			t.Errorf("%s -> %s: server saw client %s, want %s", c.from, c.addr, client, c.wantClient)
		}
	}

	udpCases := []struct{ from, addr, wantClient string }{
		{"client.example.net", "192.0.2.10:5353", "198.51.100.20"},
		{"host", "127.0.0.1:5353", "172.17.0.1"},
		{"other", front + ":5353", "172.17.0.1"},
	}
	for _, c := range udpCases {
		server, client, err := udpHello(mustNode(t, l, c.from), c.addr)
		if err != nil || server != "web" || clientIP(client) != c.wantClient {
			t.Errorf("udp %s -> %s: server %q saw %q (%v), want web seeing %s", c.from, c.addr, server, client, err, c.wantClient)
		}
	}
}

// udpHello sends one datagram from node n to addr and parses the
// responder's hello line.
func udpHello(n topology.Node, addr string) (server, client string, err error) {
	err = n.Do(func() error {
		var laddr *net.UDPAddr
		if a := sourceOf(n); a.IsValid() {
			laddr = &net.UDPAddr{IP: a.AsSlice()}
		}
		raddr, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		conn, err := net.DialUDP("udp4", laddr, raddr)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := conn.Write([]byte("topolab\n")); err != nil {
			return err
		}
		buf := make([]byte, 512)
		k, err := conn.Read(buf)
		if err != nil {
			return err
		}
		server, client, err = responder.ParseHello(string(buf[:k]))
		return err
	})
	return server, client, err
}

// lookup sends an A query for name to server from node n.
func lookup(t testing.TB, n topology.Node, server netip.Addr, name string) (rcode int, addrs []string) {
	t.Helper()
	err := n.Do(func() error {
		c := dns.Client{Timeout: time.Second}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		resp, _, err := c.Exchange(m, netip.AddrPortFrom(server, 53).String())
		if err != nil {
			return err
		}
		rcode = resp.Rcode
		for _, rr := range resp.Answer {
			if a, ok := rr.(*dns.A); ok {
				addrs = append(addrs, a.A.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("looking up %s at %s from %s: %v", name, server, n.Name(), err)
	}
	return rcode, addrs
}

func TestDNSServers(t *testing.T) {
	l := upFixture(t, "alpine-net")
	alpine2 := addressOf(t, l, "alpine2", "alpine-net").String()
	cases := []struct {
		from   string
		server netip.Addr
		name   string
		rcode  int
		want   string
	}{
		{"alpine1", topology.EmbeddedDNS, "alpine2", dns.RcodeSuccess, alpine2},
		{"alpine1", topology.EmbeddedDNS, "example.com", dns.RcodeSuccess, "203.0.113.10"},
		{"alpine1", topology.EmbeddedDNS, "alpine3", dns.RcodeNameError, ""},
		{"alpine3", topology.OutsideRouter, "example.com", dns.RcodeSuccess, "203.0.113.10"},
		{"host", topology.OutsideRouter, "example.com", dns.RcodeSuccess, "203.0.113.10"},
		{"host", topology.OutsideRouter, "alpine2", dns.RcodeNameError, ""},
	}
	for _, c := range cases {
		rcode, addrs := lookup(t, mustNode(t, l, c.from), c.server, c.name)
		if rcode != c.rcode || (c.want != "" && !contains(addrs, c.want)) {
			t.Errorf("%s asks %s for %s: %s %v, want %s %s", c.from, c.server, c.name,
				dns.RcodeToString[rcode], addrs, dns.RcodeToString[c.rcode], c.want)
		}
	}
}

func TestUpRejectsMacvlan(t *testing.T) {
	testenv.RequireRoot(t)
	top, err := topology.Parse("macvlan.yaml", []byte(`
name: mv
networks:
  lan: {driver: macvlan, options: {parent: eth0}}
containers:
  a: {networks: [lan]}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	rt := New(Options{StateDir: t.TempDir()})
	if l, err := rt.Up(context.Background(), plan); err == nil {
		l.Close(context.Background())
		t.Fatal("Up of a macvlan network succeeded")
	} else if !strings.Contains(err.Error(), "macvlan") {
		t.Errorf("error %q does not name the driver", err)
	}
}
