package reliability

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsSnapshot is what a network namespace contains that a lab could
// change: links, addresses, routes, nftables tables and sysctls.
type netnsSnapshot struct {
	links   []string
	addrs   []string
	routes  []string
	tables  []string
	sysctls map[string]string
}

// volatileSysctls change on their own and are not compared.
var volatileSysctls = []string{
	"net/netfilter/nf_conntrack_count",
	"net/ipv4/route/flush",
	"net/ipv6/route/flush",
}

func (o *outerNetns) snapshot() (*netnsSnapshot, error) {
	s := &netnsSnapshot{sysctls: map[string]string{}}
	h, err := netlink.NewHandleAt(vnetns.NsHandle(o.fd), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		s.links = append(s.links, fmt.Sprintf("link %d %s %s %s", a.Index, a.Name, l.Type(), a.Flags))
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for _, a := range addrs {
		s.addrs = append(s.addrs, fmt.Sprintf("address %s on %d", a.IPNet, a.LinkIndex))
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, r := range routes {
		s.routes = append(s.routes, "route "+r.String())
	}
	conn, err := nftables.New(nftables.WithNetNSFd(o.fd))
	if err != nil {
		return nil, fmt.Errorf("opening nftables: %w", err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	for _, t := range tables {
		s.tables = append(s.tables, fmt.Sprintf("nftables table %d %s", t.Family, t.Name))
	}
	err = o.in(func() error { return readSysctls(s.sysctls) })
	if err != nil {
		return nil, err
	}
	for _, l := range [][]string{s.links, s.addrs, s.routes, s.tables} {
		sort.Strings(l)
	}
	return s, nil
}

// readSysctls reads every readable file under /proc/sys/net, which shows
// the values of the calling thread's network namespace.
func readSysctls(into map[string]string) error {
	return filepath.WalkDir("/proc/sys/net", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := strings.TrimPrefix(path, "/proc/sys/")
		for _, v := range volatileSysctls {
			if name == v {
				return nil
			}
		}
		data, err := os.ReadFile(path)
		if err == nil {
			into[name] = strings.TrimSpace(string(data))
		}
		return nil
	})
}

// diff returns the differences from s to now, one line each.
func (s *netnsSnapshot) diff(now *netnsSnapshot) []string {
	var out []string
	list := func(before, after []string) {
		seen := map[string]bool{}
		for _, b := range before {
			seen[b] = true
		}
		for _, a := range after {
			if !seen[a] {
				out = append(out, "outer namespace gained "+a)
			}
			delete(seen, a)
		}
		for b := range seen {
			out = append(out, "outer namespace lost "+b)
		}
	}
	list(s.links, now.links)
	list(s.addrs, now.addrs)
	list(s.routes, now.routes)
	list(s.tables, now.tables)
	for k, v := range now.sysctls {
		if old, ok := s.sysctls[k]; !ok {
			out = append(out, fmt.Sprintf("outer namespace gained sysctl %s = %s", k, v))
		} else if old != v {
			out = append(out, fmt.Sprintf("outer namespace sysctl %s changed from %s to %s", k, old, v))
		}
	}
	for k := range s.sysctls {
		if _, ok := now.sysctls[k]; !ok {
			out = append(out, "outer namespace lost sysctl "+k)
		}
	}
	return out
}
