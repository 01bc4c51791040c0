package topology_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden plans under testdata/plans")

func marshalPlan(t *testing.T, p *topology.Plan) []byte {
	t.Helper()
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(data, '\n')
}

// TestPlanGolden compares the plan of every fixture with its golden file
// and plans each fixture twice from separate parses, so that any map order
// or other nondeterminism shows as a difference.
func TestPlanGolden(t *testing.T) {
	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			var plans [2][]byte
			for i := range plans {
				top, err := topology.Parse("fixture:"+f.Name, f.Data)
				if err != nil {
					t.Fatal(err)
				}
				p, err := topology.PlanTopology(top)
				if err != nil {
					t.Fatal(err)
				}
				plans[i] = marshalPlan(t, p)
			}
			if !bytes.Equal(plans[0], plans[1]) {
				t.Fatalf("two plans of one file differ:\n%s\n---\n%s", plans[0], plans[1])
			}
			golden := filepath.Join("testdata", "plans", f.Name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, plans[0], 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./topology -update to create it)", err)
			}
			if !bytes.Equal(plans[0], want) {
				t.Errorf("plan differs from %s (run go test ./topology -update after checking the change):\n%s",
					golden, lineDiff(string(want), string(plans[0])))
			}
		})
	}
}

// lineDiff lists the lines of got that differ from want, by line number.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

func mustPlan(t *testing.T, src string) *topology.Plan {
	t.Helper()
	top, err := topology.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing:\n%v", err)
	}
	p, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("planning:\n%v", err)
	}
	return p
}

func planFixture(t *testing.T, name string) *topology.Plan {
	t.Helper()
	top, err := fixtures.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func container(t *testing.T, p *topology.Plan, name string) *topology.PlannedContainer {
	t.Helper()
	c := p.Container(name)
	if c == nil {
		t.Fatalf("plan has no container %s", name)
	}
	return c
}

func iface(t *testing.T, c *topology.PlannedContainer, network string) *topology.Interface {
	t.Helper()
	i := c.Interface(network)
	if i == nil {
		t.Fatalf("%s has no interface on %s", c.Name, network)
	}
	return i
}

func checkAddr(t *testing.T, c *topology.PlannedContainer, network, want string) {
	t.Helper()
	if got := iface(t, c, network).Address.String(); got != want {
		t.Errorf("%s on %s: address %s, want %s", c.Name, network, got, want)
	}
}

func checkGateway(t *testing.T, c *topology.PlannedContainer, wantIface string) {
	t.Helper()
	got := ""
	if c.Gateway != nil {
		got = c.Gateway.Name
	}
	if got != wantIface || c.GatewayInterface != wantIface {
		t.Errorf("%s: gateway interface %q (serialised %q), want %q", c.Name, got, c.GatewayInterface, wantIface)
	}
}

// TestPlanAlpineNet checks the plan of Docker's user-defined bridge
// tutorial against the addresses the tutorial shows.
func TestPlanAlpineNet(t *testing.T) {
	p := planFixture(t, "alpine-net")

	def := p.Network("bridge")
	if def == nil || def.Subnet.String() != "172.17.0.0/16" || def.Gateway.String() != "172.17.0.1" || def.Bridge != "docker0" {
		t.Errorf("default bridge = %+v, want 172.17.0.0/16 via 172.17.0.1 on docker0", def)
	}
	n := p.Network("alpine-net")
	if n == nil {
		t.Fatal("no network alpine-net")
	}
	if n.Subnet.String() != "172.18.0.0/16" {
		t.Errorf("alpine-net subnet %s, want 172.18.0.0/16", n.Subnet)
	}
	if n.Gateway.String() != "172.18.0.1" {
		t.Errorf("alpine-net gateway %s, want 172.18.0.1", n.Gateway)
	}
	if want := "br-" + n.ID[:12]; n.Bridge != want {
		t.Errorf("alpine-net bridge %s, want %s", n.Bridge, want)
	}

	a1, a2, a3, a4 := container(t, p, "alpine1"), container(t, p, "alpine2"), container(t, p, "alpine3"), container(t, p, "alpine4")
	checkAddr(t, a1, "alpine-net", "172.18.0.2/16")
	checkAddr(t, a2, "alpine-net", "172.18.0.3/16")
	checkAddr(t, a3, "bridge", "172.17.0.2/16")
	checkAddr(t, a4, "alpine-net", "172.18.0.4/16")
	checkAddr(t, a4, "bridge", "172.17.0.3/16")

	// alpine4 lists alpine-net first, so it is eth0; the default route
	// goes via alpine-net because "alpine-net" < "bridge".
	if got := iface(t, a4, "alpine-net").Name; got != "eth0" {
		t.Errorf("alpine4 on alpine-net is %s, want eth0", got)
	}
	if got := iface(t, a4, "bridge").Name; got != "eth1" {
		t.Errorf("alpine4 on bridge is %s, want eth1", got)
	}
	checkGateway(t, a4, "eth0")
	checkGateway(t, a3, "eth0")

	if a1.Resolver != topology.EmbeddedDNS {
		t.Errorf("alpine1 resolver %s, want the embedded DNS %s", a1.Resolver, topology.EmbeddedDNS)
	}
	if a3.Resolver != topology.OutsideRouter {
		t.Errorf("alpine3 resolver %s, want the host's upstream %s", a3.Resolver, topology.OutsideRouter)
	}
	if a4.Resolver != topology.EmbeddedDNS {
		t.Errorf("alpine4 resolver %s, want the embedded DNS: it has a user-defined network", a4.Resolver)
	}

	if got, want := iface(t, a1, "alpine-net").DNSNames, []string{"alpine1", a1.ShortID}; !slices.Equal(got, want) {
		t.Errorf("alpine1 DNS names %v, want %v", got, want)
	}
	if got := iface(t, a4, "bridge").DNSNames; len(got) != 0 {
		t.Errorf("alpine4 has DNS names %v on the default bridge, which has no embedded DNS", got)
	}
	if a1.Hostname != a1.ShortID || len(a1.ShortID) != 12 || a1.ID[:12] != a1.ShortID {
		t.Errorf("alpine1 hostname %q, short ID %q, ID %q: want the hostname to be the 12-digit short ID", a1.Hostname, a1.ShortID, a1.ID)
	}
}

func TestPlanGwPriority(t *testing.T) {
	p := mustPlan(t, `
networks:
  alpine-net: {}
containers:
  byname:
    networks: [alpine-net, bridge]
  bypriority:
    networks:
      alpine-net: {}
      bridge: {gw_priority: 1}
  negative:
    networks:
      alpine-net: {gw_priority: -1}
      bridge: {}
`)
	checkGateway(t, container(t, p, "byname"), "eth0")
	checkGateway(t, container(t, p, "bypriority"), "eth1")
	checkGateway(t, container(t, p, "negative"), "eth1")
}

func TestPlanInternalNeverGateway(t *testing.T) {
	p := mustPlan(t, `
networks:
  aaa-internal: {internal: true}
  zzz-public: {}
containers:
  only-internal:
    networks: [aaa-internal]
    ports: ["8080:80"]
  both:
    networks: [aaa-internal, zzz-public]
  preferred:
    networks:
      aaa-internal: {gw_priority: 100}
      zzz-public: {}
`)
	oi := container(t, p, "only-internal")
	checkGateway(t, oi, "")
	if len(oi.Ports) != 0 {
		t.Errorf("only-internal publishes %v, want nothing: it has no gateway endpoint", oi.Ports)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "only-internal") {
		t.Errorf("warnings %q, want one about only-internal's ports", p.Warnings)
	}
	// Sorted by name aaa-internal comes first, and by priority too, but an
	// internal network never carries the default route.
	checkGateway(t, container(t, p, "both"), "eth1")
	checkGateway(t, container(t, p, "preferred"), "eth1")
}

func TestPlanStaticAddressesLowestFree(t *testing.T) {
	p := mustPlan(t, `
networks:
  front:
    subnet: 10.1.0.0/24
  custom-gateway:
    subnet: 10.2.0.0/24
    gateway: 10.2.0.254
containers:
  dynamic1: {networks: [front, custom-gateway]}
  static3:
    networks:
      front: {ipv4_address: 10.1.0.3}
  dynamic2: {networks: [front, custom-gateway]}
  dynamic4: {networks: [front]}
  static2:
    networks:
      front: {ipv4_address: 10.1.0.2}
`)
	// Static addresses are reserved before any dynamic one is chosen; the
	// dynamic ones take the lowest free addresses left.
	checkAddr(t, container(t, p, "static2"), "front", "10.1.0.2/24")
	checkAddr(t, container(t, p, "static3"), "front", "10.1.0.3/24")
	checkAddr(t, container(t, p, "dynamic1"), "front", "10.1.0.4/24")
	checkAddr(t, container(t, p, "dynamic2"), "front", "10.1.0.5/24")
	checkAddr(t, container(t, p, "dynamic4"), "front", "10.1.0.6/24")
	// With the gateway at .254, the first container address is .1.
	checkAddr(t, container(t, p, "dynamic1"), "custom-gateway", "10.2.0.1/24")
	checkAddr(t, container(t, p, "dynamic2"), "custom-gateway", "10.2.0.2/24")
}

func TestPlanStaticAddressInPoolSubnet(t *testing.T) {
	p := mustPlan(t, `
networks:
  front: {}
containers:
  first: {networks: [front]}
  fixed:
    networks:
      front: {ipv4_address: 172.18.0.2}
`)
	checkAddr(t, container(t, p, "fixed"), "front", "172.18.0.2/16")
	checkAddr(t, container(t, p, "first"), "front", "172.18.0.3/16")
}

// TestPlanDefaultPools creates as many networks as Docker's default pools
// hold besides the default bridge's and checks each subnet in order:
// 172.18 and 172.19, the /14s split into /16s, then 192.168.0.0/16 in /20s.
func TestPlanDefaultPools(t *testing.T) {
	var want []string
	for i := 18; i <= 31; i++ {
		want = append(want, fmt.Sprintf("172.%d.0.0/16", i))
	}
	for i := 0; i < 16; i++ {
		want = append(want, fmt.Sprintf("192.168.%d.0/20", i*16))
	}
	if len(want) != 30 {
		t.Fatalf("test lists %d subnets, want 30", len(want))
	}
	top, err := topology.Parse("pools.yaml", userNetworks(30))
	if err != nil {
		t.Fatal(err)
	}
	p, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("30 user networks must fit the default pools: %v", err)
	}
	for i, w := range want {
		n := p.Network(fmt.Sprintf("net%d", i))
		if n == nil {
			t.Fatalf("no network net%d", i)
		}
		if n.Subnet.String() != w {
			t.Errorf("net%d subnet %s, want %s", i, n.Subnet, w)
		}
		if wantGW := n.Subnet.Addr().Next(); n.Gateway != wantGW {
			t.Errorf("net%d gateway %s, want %s", i, n.Gateway, wantGW)
		}
	}
}

func TestPlanPoolSkipsExplicitSubnets(t *testing.T) {
	var b strings.Builder
	b.WriteString("networks:\n  pooled0: {}\n  fixed18: {subnet: 172.18.0.0/16}\n  fixed20: {subnet: 172.20.0.0/17}\n")
	b.WriteString("  fixed192: {subnet: 192.168.20.0/24}\n")
	for i := 1; i <= 13; i++ {
		fmt.Fprintf(&b, "  pooled%d: {}\n", i)
	}
	b.WriteString("containers:\n  web: {}\n")
	top, err := topology.Parse("skip.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pooled0":  "172.19.0.0/16", // 172.18.0.0/16 is fixed18's, though it comes later
		"pooled1":  "172.21.0.0/16", // 172.20.0.0/16 overlaps fixed20's /17
		"pooled2":  "172.22.0.0/16",
		"pooled11": "172.31.0.0/16",
		"pooled12": "192.168.0.0/20",
		"pooled13": "192.168.32.0/20", // 192.168.16.0/20 overlaps fixed192
		"fixed18":  "172.18.0.0/16",
		"fixed192": "192.168.20.0/24",
	}
	for name, subnet := range want {
		if n := p.Network(name); n == nil || n.Subnet.String() != subnet {
			t.Errorf("%s subnet = %v, want %s", name, n, subnet)
		}
	}
}

func TestPlanOverlayPool(t *testing.T) {
	p := mustPlan(t, `
networks:
  ov1: {driver: overlay}
  ov2: {driver: overlay}
containers:
  web: {networks: [ov1]}
`)
	for name, want := range map[string]string{"ov1": "10.0.0.0/24", "ov2": "10.0.1.0/24"} {
		if got := p.Network(name).Subnet.String(); got != want {
			t.Errorf("%s subnet %s, want %s", name, got, want)
		}
	}
}

func TestPlanEphemeralPorts(t *testing.T) {
	p := mustPlan(t, `
containers:
  web:
    ports: ["80", "443", "53/udp"]
  fixed:
    ports: ["32770:8080"]
  later:
    ports: ["9000", "127.0.0.1::9001", "127.0.0.1::9002/udp"]
`)
	type binding struct {
		host  string
		port  uint16
		proto string
	}
	want := map[string][]binding{
		// TCP and UDP count separately, both from the start of the range.
		"web":   {{"0.0.0.0", 32768, "tcp"}, {"0.0.0.0", 32769, "tcp"}, {"0.0.0.0", 32768, "udp"}},
		"fixed": {{"0.0.0.0", 32770, "tcp"}},
		// 32770 is fixed's; 127.0.0.1 has its own counter, but its port
		// must also be free on 0.0.0.0.
		"later": {{"0.0.0.0", 32771, "tcp"}, {"127.0.0.1", 32768 + 4, "tcp"}, {"127.0.0.1", 32769, "udp"}},
	}
	for name, bindings := range want {
		c := container(t, p, name)
		if len(c.Ports) != len(bindings) {
			t.Errorf("%s: %d bindings %+v, want %d", name, len(c.Ports), c.Ports, len(bindings))
			continue
		}
		for i, w := range bindings {
			got := c.Ports[i]
			if got.HostIP.String() != w.host || got.HostPort != w.port || got.Proto != w.proto {
				t.Errorf("%s binding %d: %s:%d/%s, want %s:%d/%s", name, i, got.HostIP, got.HostPort, got.Proto, w.host, w.port, w.proto)
			}
		}
	}
}

func TestPlanPortsBoundOnGatewayEndpoint(t *testing.T) {
	p := mustPlan(t, `
networks:
  alpine-net: {}
containers:
  web:
    networks: [bridge, alpine-net]
    ports: ["8080:80", "127.0.0.1:8443:443", "5353:53/udp"]
  web2:
    networks:
      alpine-net: {}
      bridge: {gw_priority: 5}
    ports: ["8081:80"]
`)
	web := container(t, p, "web")
	gw := iface(t, web, "alpine-net")
	checkGateway(t, web, gw.Name)
	for _, b := range web.Ports {
		if b.ContainerIP != gw.Address.Addr() || b.Network != "alpine-net" {
			t.Errorf("web binding %+v, want it on alpine-net at %s", b, gw.Address.Addr())
		}
	}
	if got := web.Ports[0]; got.HostIP != netip.IPv4Unspecified() || got.HostPort != 8080 || got.ContainerPort != 80 || got.Proto != "tcp" {
		t.Errorf("web first binding %+v, want 0.0.0.0:8080 -> 80/tcp", got)
	}
	web2 := container(t, p, "web2")
	if b := web2.Ports[0]; b.Network != "bridge" || b.ContainerIP != iface(t, web2, "bridge").Address.Addr() {
		t.Errorf("web2 binding %+v, want it on the bridge endpoint, which gw_priority makes the gateway", b)
	}
}

func TestPlanPortsTCPAndUDPShareNumber(t *testing.T) {
	p := mustPlan(t, `
containers:
  dns1:
    ports: ["5353:53/tcp", "127.0.0.1:8080:80"]
  dns2:
    ports: ["5353:53/udp", "192.0.2.10:8080:80"]
`)
	if n := len(container(t, p, "dns1").Ports) + len(container(t, p, "dns2").Ports); n != 4 {
		t.Errorf("got %d bindings, want 4: different protocols or host addresses do not clash", n)
	}
}

func TestPlanDNSNames(t *testing.T) {
	p := mustPlan(t, `
networks:
  back: {}
containers:
  db:
    hostname: dbhost
    networks:
      back: {aliases: [database, primary]}
      bridge: {}
  cache:
    hostname: cache
    networks: [back]
`)
	db := container(t, p, "db")
	want := []string{"db", "database", "primary", db.ShortID, "dbhost"}
	if got := iface(t, db, "back").DNSNames; !slices.Equal(got, want) {
		t.Errorf("db DNS names %v, want %v", got, want)
	}
	if got := iface(t, db, "bridge").DNSNames; len(got) != 0 {
		t.Errorf("db DNS names on the default bridge %v, want none", got)
	}
	cache := container(t, p, "cache")
	if got, want := iface(t, cache, "back").DNSNames, []string{"cache", cache.ShortID}; !slices.Equal(got, want) {
		t.Errorf("cache DNS names %v, want %v: a hostname equal to the name appears once", got, want)
	}
}

func TestPlanInterfaceNames(t *testing.T) {
	p := mustPlan(t, `
networks:
  a: {}
  b:
    options: {com.docker.network.container_iface_prefix: lan}
containers:
  web: {networks: [b, a, bridge]}
`)
	web := container(t, p, "web")
	for network, want := range map[string]string{"b": "lan0", "a": "eth1", "bridge": "eth2"} {
		if got := iface(t, web, network).Name; got != want {
			t.Errorf("interface on %s: %s, want %s", network, got, want)
		}
	}
	for _, i := range web.Interfaces {
		if len(i.HostVeth) != len("veth")+7 || !strings.HasPrefix(i.HostVeth, "veth") {
			t.Errorf("host veth %q, want veth and 7 hex digits", i.HostVeth)
		}
	}
}

func TestPlanNetworkModes(t *testing.T) {
	p := mustPlan(t, `
networks:
  app-net: {}
containers:
  app: {networks: [app-net]}
  sidecar: {network_mode: "container:app"}
  second: {network_mode: "container:sidecar"}
  hostly: {network_mode: host}
  nothing: {network_mode: none}
`)
	app := container(t, p, "app")
	for _, name := range []string{"sidecar", "second"} {
		c := container(t, p, name)
		if len(c.Interfaces) != 0 {
			t.Errorf("%s has interfaces %v, want none: it shares app's namespace", name, c.Interfaces)
		}
		if owner := p.NetnsOwner(c); owner != app {
			t.Errorf("%s namespace owner %v, want app", name, owner)
		}
		if c.Resolver != app.Resolver {
			t.Errorf("%s resolver %s, want app's %s", name, c.Resolver, app.Resolver)
		}
	}
	if owner := p.NetnsOwner(container(t, p, "hostly")); owner != nil {
		t.Errorf("host-mode owner %v, want nil", owner)
	}
	nothing := container(t, p, "nothing")
	if len(nothing.Interfaces) != 0 || nothing.Gateway != nil {
		t.Errorf("none-mode container has interfaces %v or gateway %v", nothing.Interfaces, nothing.Gateway)
	}
}

func TestPlanAddressPoolFull(t *testing.T) {
	top, err := topology.Parse("tiny.yaml", []byte(`
networks:
  tiny: {subnet: 10.9.0.0/30}
containers:
  one: {networks: [tiny]}
  two: {networks: [tiny]}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = topology.PlanTopology(top)
	var list topology.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("error %v, want one error about the full network", err)
	}
	want := "tiny.yaml:6:20: containers.two.networks.tiny: no available addresses on network tiny (10.9.0.0/30 is full); fix: give the network a larger subnet"
	if list[0].Error() != want {
		t.Errorf("error\n%s\nwant\n%s", list[0], want)
	}
}

func TestParseValidEdgeCases(t *testing.T) {
	for name, src := range map[string]string{
		"byte order mark": "\xef\xbb\xbfcontainers:\n  web: {}\n",
		"crlf":            "containers:\r\n  web:\r\n    image: alpine\r\n",
		"yaml directive":  "%YAML 1.2\n---\ncontainers:\n  web: {}\n",
		"document end":    "containers:\n  web: {}\n...\n",
		"anchors":         "containers:\n  base: {listen: &l [80]}\n  web: {listen: *l}\n",
		"merge":           "containers:\n  base: &base {image: alpine, listen: [80]}\n  web: {<<: *base, hostname: www}\n",
		"dotted hostname": "containers:\n  web: {hostname: web.example.test}\n",
		"flow everything": "{containers: {a: {networks: [bridge]}, b: {}}, probes: [{from: a, to: b, kind: ping}]}",
	} {
		t.Run(name, func(t *testing.T) {
			top, err := topology.Parse("edge.yaml", []byte(src))
			if err != nil {
				t.Fatalf("rejected:\n%v", err)
			}
			if _, err := topology.PlanTopology(top); err != nil {
				t.Fatalf("planning:\n%v", err)
			}
		})
	}
}

func TestParseMergeKeepsValues(t *testing.T) {
	top, err := topology.Parse("merge.yaml", []byte(`
containers:
  base: &base {image: alpine, listen: [80]}
  web: {<<: *base, hostname: www}
`))
	if err != nil {
		t.Fatal(err)
	}
	web := top.Container("web")
	if web.Image != "alpine" || web.Hostname != "www" || len(web.Listen) != 1 || web.Listen[0].Port != 80 {
		t.Errorf("merged container %+v, want image alpine, hostname www, listen 80", web)
	}
}

func TestPortOnAllAddressesExplicitly(t *testing.T) {
	top, err := topology.Parse("ports.yaml", []byte("containers:\n  web: {ports: [\"0.0.0.0:8080:80\"], listen: [80/tcp]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Container("web").Ports[0]
	if !b.HostIP.IsUnspecified() || b.HostPort != 8080 || b.ContainerPort != 80 {
		t.Errorf("binding %+v, want 0.0.0.0:8080->80", b)
	}
}
