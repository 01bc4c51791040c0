package docker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/topology"
)

// Documentation prefixes (RFC 5737), the only destinations the outside may
// be given.
var documentationPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// rulePriority is the priority of the policy rules that send the lab's
// traffic for the outside router to the outside veth. It must be lower than
// the main table's 32766.
const rulePriority = 10000

// outside is the lab's outside namespace, its veth and its servers.
type outside struct {
	lab  string
	ns   netns.NsHandle
	veth string
	// table is the routing table of the policy rules.
	table  int
	plan   *topology.Plan
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// vethName returns the name of the lab's host-side outside veth, within
// Linux's 15-byte limit.
func vethName(lab string) string {
	if name := "tl-" + lab; len(name) <= unix.IFNAMSIZ-1 {
		return name
	}
	sum := sha256.Sum256([]byte(lab))
	return "tl-" + hex.EncodeToString(sum[:])[:12]
}

// ruleTable returns the lab's routing table number, derived from its name
// so that Down finds the rules of a crashed run.
func ruleTable(lab string) int {
	sum := sha256.Sum256([]byte(lab))
	return 100000 + int(binary.BigEndian.Uint32(sum[:4])%1000000)
}

// newOutside makes the namespace of process pid, the lab's outside
// container, the outside namespace of plan: it connects it to the Docker
// host and starts its servers. The uplink address goes on the host side as
// a /32, so the host gains no route for 192.0.2.0/24, which may be the
// machine's own uplink subnet.
func newOutside(plan *topology.Plan, log *slog.Logger, pid int) (_ *outside, err error) {
	o := &outside{lab: plan.Lab, veth: vethName(plan.Lab), table: ruleTable(plan.Lab), plan: plan, log: log, ns: -1}
	if err := checkOutsideAddresses(plan); err != nil {
		return nil, err
	}
	if _, err := netlink.LinkByName(o.veth); err == nil {
		return nil, fmt.Errorf("creating outside veth %s: %w: the link exists", o.veth, topology.ErrLabExists)
	}
	defer func() {
		if err != nil {
			o.close()
		}
	}()

	if o.ns, err = netns.GetFromPid(pid); err != nil {
		return nil, fmt.Errorf("opening outside namespace of pid %d: %w", pid, err)
	}
	if err := o.link(); err != nil {
		return nil, err
	}
	if err := o.routeHost(); err != nil {
		return nil, err
	}
	if err := o.startServers(); err != nil {
		return nil, err
	}
	return o, nil
}

// attachOutside opens the outside namespace of a running lab, held by its
// outside container's process pid, and starts this process's servers in
// it. It connects the namespace again when the lab's veth is gone, such as
// after someone deleted it.
func attachOutside(plan *topology.Plan, log *slog.Logger, pid int) (_ *outside, err error) {
	o := &outside{lab: plan.Lab, veth: vethName(plan.Lab), table: ruleTable(plan.Lab), plan: plan, log: log, ns: -1}
	if err := checkOutsideAddresses(plan); err != nil {
		return nil, err
	}
	if o.ns, err = netns.GetFromPid(pid); err != nil {
		return nil, fmt.Errorf("opening outside namespace of pid %d: %w", pid, err)
	}
	defer func() {
		if err != nil {
			o.release()
		}
	}()
	if _, err := netlink.LinkByName(o.veth); err != nil {
		log.Warn("outside veth is gone; connecting the outside again", "lab", plan.Lab, "veth", o.veth)
		if err := o.link(); err != nil {
			return nil, err
		}
		if err := o.routeHost(); err != nil {
			return nil, err
		}
	}
	if err := o.startServers(); err != nil {
		return nil, err
	}
	return o, nil
}

// checkOutsideAddresses rejects outside, router and uplink addresses that
// are not documentation addresses (RFC 5737).
func checkOutsideAddresses(plan *topology.Plan) error {
	for _, h := range plan.Outside {
		if !isDocumentation(h.Address) || h.Address == plan.Router || h.Address == plan.Uplink.Addr() {
			return fmt.Errorf("creating outside host %s: address %s is not a free documentation address (RFC 5737)", h.Name, h.Address)
		}
	}
	if !isDocumentation(plan.Router) || !isDocumentation(plan.Uplink.Addr()) {
		return fmt.Errorf("creating outside: router %s and uplink %s must be documentation addresses", plan.Router, plan.Uplink)
	}
	return nil
}

// carriesRouter reports whether this machine routes packets from the
// uplink address to the outside router through the lab's veth, as
// "ip route get 192.0.2.1 from 192.0.2.10" would show, so that they never
// reach a real router of that address.
func (o *outside) carriesRouter() bool {
	link, err := netlink.LinkByName(o.veth)
	if err != nil {
		return false
	}
	routes, err := netlink.RouteGetWithOptions(o.plan.Router.AsSlice(), &netlink.RouteGetOptions{
		SrcAddr: o.plan.Uplink.Addr().AsSlice(),
	})
	if err != nil || len(routes) == 0 {
		return false
	}
	return routes[0].LinkIndex == link.Attrs().Index
}

func isDocumentation(a netip.Addr) bool {
	for _, p := range documentationPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// link creates the veth with its outside end directly in the namespace and
// configures both ends:
//
//	ip link add tl-LAB type veth peer name eth0 netns OUTSIDE
//	ip addr add 192.0.2.10/32 dev tl-LAB
//	ip -n OUTSIDE addr add 192.0.2.1/24 dev eth0 (+ every outside host /32)
func (o *outside) link() error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: o.veth},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(o.ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating outside veth %s: %w", o.veth, err)
	}
	host, err := netlink.LinkByName(o.veth)
	if err != nil {
		return fmt.Errorf("finding outside veth %s: %w", o.veth, err)
	}
	uplink := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(o.plan.Uplink.Addr(), 32))}
	if err := netlink.AddrAdd(host, uplink); err != nil {
		return fmt.Errorf("adding %s to %s: %w", o.plan.Uplink.Addr(), o.veth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("setting %s up: %w", o.veth, err)
	}

	h, err := netlink.NewHandleAt(o.ns)
	if err != nil {
		return fmt.Errorf("opening netlink in outside namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo in outside namespace: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("setting lo up in outside namespace: %w", err)
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("finding eth0 in outside namespace: %w", err)
	}
	router := netip.PrefixFrom(o.plan.Router, o.plan.Uplink.Bits())
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(router)}); err != nil {
		return fmt.Errorf("adding %s to outside eth0: %w", router, err)
	}
	for _, host := range o.plan.Outside {
		addr := netip.PrefixFrom(host.Address, 32)
		if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
			return fmt.Errorf("adding %s of %s to outside eth0: %w", addr, host.Name, err)
		}
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("setting outside eth0 up: %w", err)
	}
	return nil
}

// routeHost adds the Docker host's routes for the outside hosts: the whole
// documentation /24 of each, except inside 192.0.2.0/24, where only the
// host's own address is routed.
//
//	ip route add 203.0.113.0/24 via 192.0.2.1 dev tl-LAB onlink src 192.0.2.10
//	ip route add 192.0.2.1/32 dev tl-LAB table T
func (o *outside) routeHost() error {
	host, err := netlink.LinkByName(o.veth)
	if err != nil {
		return fmt.Errorf("finding outside veth %s: %w", o.veth, err)
	}
	uplinkNet := o.plan.Uplink.Masked()
	seen := map[netip.Prefix]bool{}
	for _, h := range o.plan.Outside {
		dst := netip.PrefixFrom(h.Address, 24).Masked()
		if dst == uplinkNet {
			dst = netip.PrefixFrom(h.Address, 32)
		}
		if seen[dst] {
			continue
		}
		seen[dst] = true
		route := &netlink.Route{
			LinkIndex: host.Attrs().Index,
			Dst:       ipNet(dst),
			Gw:        o.plan.Router.AsSlice(),
			Src:       o.plan.Uplink.Addr().AsSlice(),
			Flags:     int(netlink.FLAG_ONLINK),
		}
		if err := netlink.RouteAdd(route); errors.Is(err, unix.EEXIST) {
			// NOTE: the host has one route per documentation prefix, so only
			// one Docker lab with outside hosts in that prefix runs at a time.
			return fmt.Errorf("adding route to %s via %s: %w: another docker lab's outside routes it through %s; "+
				"only one docker lab with outside hosts runs at a time: list them with topolab ls --runtime docker "+
				"and stop one with topolab down NAME --runtime docker", dst, o.veth, topology.ErrLabExists, routeDevice(dst))
		} else if err != nil {
			return fmt.Errorf("adding route to %s via %s: %w", dst, o.veth, err)
		}
	}
	route := &netlink.Route{
		LinkIndex: host.Attrs().Index,
		Dst:       ipNet(netip.PrefixFrom(o.plan.Router, 32)),
		Src:       o.plan.Uplink.Addr().AsSlice(),
		Scope:     netlink.SCOPE_LINK,
		Table:     o.table,
	}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("adding route to %s in table %d: %w", o.plan.Router, o.table, err)
	}
	return o.allowSources([]netip.Prefix{netip.PrefixFrom(o.plan.Uplink.Addr(), 32)})
}

// allowSources adds a policy rule per source prefix that sends its traffic
// for the outside router to the outside veth:
//
//	ip rule add from PREFIX to 192.0.2.1/32 table T priority 10000
func (o *outside) allowSources(sources []netip.Prefix) error {
	for _, src := range sources {
		rule := netlink.NewRule()
		rule.Src = ipNet(src)
		rule.Dst = ipNet(netip.PrefixFrom(o.plan.Router, 32))
		rule.Table = o.table
		rule.Priority = rulePriority
		if err := netlink.RuleAdd(rule); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding rule from %s to %s: %w", src, o.plan.Router, err)
		}
	}
	return nil
}

// release stops this process's servers and closes its handle of the
// namespace, leaving the veth, the routes and the rules in place.
func (o *outside) release() {
	if o.cancel != nil {
		o.cancel()
		o.wg.Wait()
		o.cancel = nil
	}
	if o.ns >= 0 {
		o.ns.Close()
		o.ns = -1
	}
}

// close stops the servers and removes the veth and the rules. Deleting the
// veth also removes its routes. The namespace lives until the outside
// container is removed.
func (o *outside) close() error {
	o.release()
	_, err := removeOutsideLeftovers(o.lab)
	return err
}

// removeOutsideLeftovers deletes the lab's outside veth and policy rules,
// and reports whether either existed. The namespace itself needs no
// removal: it dies with the outside container.
func removeOutsideLeftovers(lab string) (bool, error) {
	found := false
	var errs []error
	if link, err := netlink.LinkByName(vethName(lab)); err == nil {
		found = true
		if link.Type() != "veth" {
			errs = append(errs, fmt.Errorf("removing outside veth %s: the link is a %s, not a veth: leaving it", vethName(lab), link.Type()))
		} else if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("removing outside veth %s: %w", vethName(lab), err))
		}
	}
	rules, err := netlink.RuleList(unix.AF_INET)
	if err != nil {
		return found, errors.Join(append(errs, fmt.Errorf("listing rules: %w", err))...)
	}
	table := ruleTable(lab)
	for _, rule := range rules {
		if rule.Table != table || rule.Priority != rulePriority {
			continue
		}
		found = true
		if err := netlink.RuleDel(&rule); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing rule to table %d: %w", table, err))
		}
	}
	return found, errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// routeDevice names the interface of this machine's route to dst, or
// "another interface" when it cannot be read.
func routeDevice(dst netip.Prefix) string {
	routes, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: ipNet(dst)}, netlink.RT_FILTER_DST)
	if err != nil || len(routes) == 0 {
		return "another interface"
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return "another interface"
	}
	return link.Attrs().Name
}
