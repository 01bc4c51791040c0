package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/vishvananda/netlink"
)

// rootSysctls are the sysctls the runtime writes inside lab namespaces;
// the root namespace's values must not change.
var rootSysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv6.conf.default.disable_ipv6",
	"net.ipv6.conf.all.disable_ipv6",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	bridgeNFCall,
}

// rootSnapshot serialises the root namespace's links, addresses, routes,
// nftables ruleset and sysctls. The test process's unlocked threads are in
// the root namespace.
func rootSnapshot(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		a := l.Attrs()
		fmt.Fprintf(&b, "link %d %s %s %s master=%d mtu=%d\n", a.Index, a.Name, l.Type(), a.Flags, a.MasterIndex, a.MTU)
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			fmt.Fprintf(&b, "  addr %s\n", ad.IPNet)
		}
	}

	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		fmt.Fprintf(&b, "route %s\n", r)
	}

	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		fmt.Fprintf(&b, "table %d %s\n", tb.Family, tb.Name)
	}
	chains, err := conn.ListChains()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chains {
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(rules)
		fmt.Fprintf(&b, "chain %s %s %s\n", c.Table.Name, c.Name, data)
	}

	for _, s := range rootSysctls {
		v, err := readSysctl(s)
		if err != nil {
			v = "absent"
		}
		fmt.Fprintf(&b, "sysctl %s %s", s, v)
	}
	return b.Bytes()
}

func TestRootNamespaceUnchanged(t *testing.T) {
	testenv.RequireRoot(t)
	before := rootSnapshot(t)
	for _, name := range []string{"alpine-net", "nat", "host", "none", "default-bridge"} {
		plan, err := loadPlan(name)
		if err != nil {
			t.Fatal(err)
		}
		rt := New(Options{StateDir: t.TempDir()})
		l, err := rt.Up(context.Background(), plan)
		if err != nil {
			t.Fatalf("Up(%s): %v", name, err)
		}
		during := rootSnapshot(t)
		if err := l.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, during) {
			t.Errorf("root namespace changed while %s was up:\nbefore:\n%s\nduring:\n%s", name, before, during)
		}
	}
	if after := rootSnapshot(t); !bytes.Equal(before, after) {
		t.Errorf("root namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// labPrefixes are the address ranges a lab uses; none may appear on the
// root namespace's interfaces.
var labPrefixes = []netip.Prefix{
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

func labAddress(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	for _, p := range labPrefixes {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func TestRootCaptureSeesNoLabTraffic(t *testing.T) {
	testenv.RequireRoot(t)
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var handles []*pcapgo.EthernetHandle
	for _, l := range links {
		if l.Attrs().Flags&net.FlagUp == 0 {
			continue
		}
		h, err := pcapgo.NewEthernetHandle(l.Attrs().Name)
		if err != nil {
			t.Fatalf("capturing on %s: %v", l.Attrs().Name, err)
		}
		handles = append(handles, h)
	}
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				data, _, err := h.ReadPacketData()
				if errors.Is(err, os.ErrClosed) {
					return
				}
				if err != nil {
					continue
				}
				p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
				if ip, ok := p.NetworkLayer().(*layers.IPv4); ok && (labAddress(ip.SrcIP) || labAddress(ip.DstIP)) {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("%s > %s", ip.SrcIP, ip.DstIP))
					mu.Unlock()
				}
				if arp, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok &&
					(labAddress(arp.SourceProtAddress) || labAddress(arp.DstProtAddress)) {
					mu.Lock()
					seen = append(seen, fmt.Sprintf("arp %v > %v", net.IP(arp.SourceProtAddress), net.IP(arp.DstProtAddress)))
					mu.Unlock()
				}
			}
		}()
	}
	defer func() {
		close(stop)
		for _, h := range handles {
			h.Close()
		}
		wg.Wait()
	}()

	l := upFixture(t, "nat")
	web1 := addressOf(t, l, "web1", "bridge")
	for range 3 {
		ping(t, mustNode(t, l, "client"), web1)
		ping(t, mustNode(t, l, "client"), netip.MustParseAddr("203.0.113.10"))
		hello(t, mustNode(t, l, "client.example.net"), "192.0.2.10:8080")
		hello(t, mustNode(t, l, "web1"), "203.0.113.10:80")
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("root namespace interfaces carried lab packets: %v", seen)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "captured on %d root interfaces\n", len(handles))
	}
}
