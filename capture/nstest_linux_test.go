package capture

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// testNS is a throwaway network namespace held by file descriptor only, so
// the kernel frees it, its links and its rules with it, once the test has
// closed the descriptor and every socket opened in it.
type testNS struct {
	name string
	h    netns.NsHandle
	nl   *netlink.Handle
}

func newTestNS(t testing.TB, name string) *testNS {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting current namespace: %v", err)
	}
	h, err := netns.New() // also switches this thread into the new namespace
	if serr := netns.Set(orig); serr != nil {
		// Leave the thread locked so that the runtime discards it.
		t.Fatalf("switching back from namespace %s: %v", name, serr)
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() { h.Close() })

	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatalf("opening netlink in %s: %v", name, err)
	}
	t.Cleanup(nl.Close)
	n := &testNS{name: name, h: h, nl: nl}
	n.linkUp(t, "lo")
	return n
}

// Do runs f on a locked thread switched into n.
func (n *testNS) Do(f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering namespace %s: %w", n.name, err)
	}
	defer func() {
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

func (n *testNS) link(t testing.TB, name string) netlink.Link {
	t.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s in %s: %v", name, n.name, err)
	}
	return l
}

func (n *testNS) linkUp(t testing.TB, name string) {
	t.Helper()
	if err := n.nl.LinkSetUp(n.link(t, name)); err != nil {
		t.Fatalf("setting %s up in %s: %v", name, n.name, err)
	}
}

func (n *testNS) addAddr(t testing.TB, ifname, prefix string) {
	t.Helper()
	a, err := netlink.ParseAddr(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nl.AddrAdd(n.link(t, ifname), a); err != nil {
		t.Fatalf("adding %s to %s in %s: %v", prefix, ifname, n.name, err)
	}
}

func (n *testNS) defaultRoute(t testing.TB, gw string) {
	t.Helper()
	r := &netlink.Route{Gw: net.ParseIP(gw)}
	if err := n.nl.RouteAdd(r); err != nil {
		t.Fatalf("adding default route via %s in %s: %v", gw, n.name, err)
	}
}

func (n *testNS) sysctl(t testing.TB, path, value string) {
	t.Helper()
	err := n.Do(func() error { return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644) })
	if err != nil {
		t.Fatalf("setting %s=%s in %s: %v", path, value, n.name, err)
	}
}

// veth creates a veth pair with one end named name in n and the other named
// peerName in peer, and sets both up.
func veth(t testing.TB, n *testNS, name string, peer *testNS, peerName string) {
	t.Helper()
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name},
		PeerName:      peerName,
		PeerNamespace: netlink.NsFd(int(peer.h)),
	}
	if err := n.nl.LinkAdd(v); err != nil {
		t.Fatalf("creating veth %s in %s with peer %s in %s: %v", name, n.name, peerName, peer.name, err)
	}
	n.linkUp(t, name)
	peer.linkUp(t, peerName)
}

func (n *testNS) bridge(t testing.TB, name string, ports ...string) {
	t.Helper()
	if err := n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatalf("creating bridge %s in %s: %v", name, n.name, err)
	}
	br := n.link(t, name)
	for _, p := range ports {
		if err := n.nl.LinkSetMaster(n.link(t, p), br); err != nil {
			t.Fatalf("attaching %s to %s: %v", p, name, err)
		}
	}
	n.linkUp(t, name)
}

// natRules programs, in n only, a masquerade of src leaving through
// uplink and a DNAT of TCP port hostPort arriving on uplink to target.
func (n *testNS) natRules(t testing.TB, uplink string, src netip.Prefix, hostPort uint16, target netip.AddrPort) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.h)))
	if err != nil {
		t.Fatalf("opening nftables in %s: %v", n.name, err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "nat"})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})

	mask := net.CIDRMask(src.Bits(), 32)
	c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(uplink)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src.Masked().Addr().AsSlice()},
		&expr.Masq{},
	}})
	c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(uplink)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(hostPort)},
		&expr.Immediate{Register: 1, Data: target.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(target.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("programming NAT rules in %s: %v", n.name, err)
	}
}

func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// dropUDPPort drops UDP packets to port in n's raw prerouting hook, after
// packet sockets have seen them but before routing and socket lookup, so a
// flood costs the receiving namespace little.
func (n *testNS) dropUDPPort(t testing.TB, port uint16) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.h)))
	if err != nil {
		t.Fatalf("opening nftables in %s: %v", n.name, err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "sink"})
	chain := c.AddChain(&nftables.Chain{Name: "prerouting", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("programming drop rule in %s: %v", n.name, err)
	}
}

// hairpinRules programs, in n's nat table made by natRules, Docker's rules
// for a container reaching a published port through the lab host with the
// userland proxy off: a DNAT of TCP to hostIP:hostPort arriving on bridge,
// and a masquerade of what then leaves on bridge from src towards target,
// so that target answers through the lab host.
func (n *testNS) hairpinRules(t testing.TB, bridge string, src netip.Prefix, hostIP netip.Addr, hostPort uint16,
	target netip.AddrPort) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.h)))
	if err != nil {
		t.Fatalf("opening nftables in %s: %v", n.name, err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "nat"}
	pre := &nftables.Chain{Name: "prerouting", Table: table}
	post := &nftables.Chain{Name: "postrouting", Table: table}
	c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(bridge)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: hostIP.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(hostPort)},
		&expr.Immediate{Register: 1, Data: target.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(target.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}})
	c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifnameBytes(bridge)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: net.CIDRMask(src.Bits(), 32), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src.Masked().Addr().AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: target.Addr().AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(target.Port())},
		&expr.Masq{},
	}})
	if err := c.Flush(); err != nil {
		t.Fatalf("programming hairpin rules in %s: %v", n.name, err)
	}
}
