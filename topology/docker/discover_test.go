//go:build linux

package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// discoverLab is a set of Docker objects that a discover test creates
// itself, labelled and named with a random token.
type discoverLab struct {
	r      *Runtime
	token  string
	label  string
	prefix string
}

func newDiscoverLab(t *testing.T, r *Runtime) *discoverLab {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	token := hex.EncodeToString(b)
	return &discoverLab{r: r, token: token, label: "topolab.discover-test=" + token, prefix: "tld-" + token + "-"}
}

func (d *discoverLab) labels() map[string]string {
	return map[string]string{"topolab.discover-test": d.token}
}

func (d *discoverLab) network(t *testing.T, name string, subnet string, internal, icc bool) {
	t.Helper()
	ctx := context.Background()
	prefix := netip.MustParsePrefix(subnet)
	created, err := d.r.client.NetworkCreate(ctx, d.prefix+name, client.NetworkCreateOptions{
		Driver:   "bridge",
		Internal: internal,
		IPAM:     &network.IPAM{Config: []network.IPAMConfig{{Subnet: prefix, Gateway: prefix.Addr().Next()}}},
		Options:  map[string]string{optionEnableICC: strconv.FormatBool(icc)},
		Labels:   d.labels(),
	})
	if err != nil {
		t.Fatalf("creating network %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := d.r.client.NetworkRemove(context.Background(), created.ID, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("removing network %s: %v", name, err)
		}
	})
}

// container creates and starts a container of the probe image.
func (d *discoverLab) container(t *testing.T, name string, cfg *container.Config, host *container.HostConfig,
	endpoints map[string]*network.EndpointSettings) string {
	t.Helper()
	ctx := context.Background()
	image, err := d.r.ProbeImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Image = image
	cfg.Labels = d.labels()
	cfg.Env = append(cfg.Env, "TOPOLAB_NODE="+name)
	opts := client.ContainerCreateOptions{Name: d.prefix + name, Config: cfg, HostConfig: host}
	if endpoints != nil {
		opts.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: endpoints}
	}
	created, err := d.r.client.ContainerCreate(ctx, opts)
	if err != nil {
		t.Fatalf("creating container %s: %v", name, err)
	}
	// Registered after the networks' cleanups, so it runs before them.
	t.Cleanup(func() {
		_, err := d.r.client.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
		if err != nil {
			t.Errorf("removing container %s: %v", name, err)
		}
	})
	if _, err := d.r.client.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("starting container %s: %v", name, err)
	}
	return created.ID
}

func TestDiscoverRoundTrip(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	d := newDiscoverLab(t, r)
	d.network(t, "front", "172.30.50.0/24", false, true)
	d.network(t, "back", "172.30.51.0/24", true, false)

	webPort := network.MustParsePort("80/tcp")
	dnsPort := network.MustParsePort("53/udp")
	web := d.container(t, "web",
		&container.Config{Hostname: "webhost", Env: []string{"TOPOLAB_LISTEN=80/tcp"},
			ExposedPorts: network.PortSet{webPort: {}, dnsPort: {}}},
		&container.HostConfig{NetworkMode: container.NetworkMode(d.prefix + "front"),
			PortBindings: network.PortMap{
				webPort: {{HostPort: "18080"}},
				dnsPort: {{HostIP: netip.MustParseAddr("127.0.0.1")}},
			}},
		map[string]*network.EndpointSettings{d.prefix + "front": {
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.30.50.10")},
			Aliases:    []string{"www"},
		}})
	if _, err := r.client.NetworkConnect(ctx, d.prefix+"back", client.NetworkConnectOptions{
		Container: web, EndpointConfig: &network.EndpointSettings{Aliases: []string{"api"}},
	}); err != nil {
		t.Fatalf("connecting web to back: %v", err)
	}
	d.container(t, "db", &container.Config{},
		&container.HostConfig{NetworkMode: container.NetworkMode(d.prefix + "back")}, nil)
	d.container(t, "side", &container.Config{},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + web)}, nil)
	d.container(t, "iso", &container.Config{}, &container.HostConfig{NetworkMode: "none"}, nil)
	d.container(t, "plain", &container.Config{}, &container.HostConfig{}, nil)

	found, err := r.Discover(ctx, DiscoverOptions{Name: "round-trip", Labels: []string{d.label}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("discovered:\n%s", found.YAML)
	for _, w := range found.Warnings {
		t.Logf("warning: %s", w)
	}
	topo, err := topology.Parse("round-trip.yaml", found.YAML)
	if err != nil {
		t.Fatalf("parsing the discovered file: %v", err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatalf("planning the discovered file: %v", err)
	}

	p := d.prefix
	wantNetworks := []struct {
		name, subnet  string
		internal, icc bool
	}{{p + "front", "172.30.50.0/24", false, true}, {p + "back", "172.30.51.0/24", true, false}}
	if len(topo.Networks) != len(wantNetworks) {
		t.Fatalf("networks %d, want %d", len(topo.Networks), len(wantNetworks))
	}
	for i, want := range wantNetworks {
		n := topo.Networks[i]
		if n.Name != want.name || n.Subnet.String() != want.subnet || n.Internal != want.internal || n.ICC != want.icc {
			t.Errorf("network %d: %s %s internal=%v icc=%v, want %+v", i, n.Name, n.Subnet, n.Internal, n.ICC, want)
		}
		if n.Gateway != netip.MustParsePrefix(want.subnet).Addr().Next() {
			t.Errorf("network %s: gateway %s", n.Name, n.Gateway)
		}
	}

	wantOrder := []string{p + "web", p + "db", p + "side", p + "iso", p + "plain"}
	var names []string
	for _, c := range topo.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, wantOrder) {
		t.Errorf("containers %v, want %v", names, wantOrder)
	}

	w := topo.Container(p + "web")
	if w == nil || len(w.Networks) != 2 {
		t.Fatalf("web: %+v, want two networks", w)
	}
	if w.Networks[0].Network != p+"front" || w.Networks[1].Network != p+"back" {
		t.Errorf("web networks %s, %s; want front then back", w.Networks[0].Network, w.Networks[1].Network)
	}
	if w.Networks[0].IPv4Address != netip.MustParseAddr("172.30.50.10") || !slices.Equal(w.Networks[0].Aliases, []string{"www"}) {
		t.Errorf("web on front: %s %v, want 172.30.50.10 [www]", w.Networks[0].IPv4Address, w.Networks[0].Aliases)
	}
	if w.Networks[1].IPv4Address.IsValid() || !slices.Equal(w.Networks[1].Aliases, []string{"api"}) {
		t.Errorf("web on back: %s %v, want a dynamic address and [api]", w.Networks[1].IPv4Address, w.Networks[1].Aliases)
	}
	if w.Hostname != "webhost" {
		t.Errorf("web hostname %q, want webhost", w.Hostname)
	}
	var raws []string
	for _, ps := range w.Ports {
		raws = append(raws, ps.Raw)
	}
	slices.Sort(raws)
	if want := []string{"127.0.0.1::53/udp", "18080:80/tcp"}; !slices.Equal(raws, want) {
		t.Errorf("web ports %v, want %v", raws, want)
	}
	if len(w.Listen) != 1 || w.Listen[0] != (topology.Listen{Port: 80, Proto: "tcp"}) {
		t.Errorf("web listen %v, want [80/tcp] from TOPOLAB_LISTEN", w.Listen)
	}
	if c := topo.Container(p + "side"); c.NetworkMode != topology.ModeContainer || c.ModeTarget != p+"web" {
		t.Errorf("side: mode %q target %q, want container:%sweb", c.NetworkMode, c.ModeTarget, p)
	}
	if c := topo.Container(p + "iso"); c.NetworkMode != topology.ModeNone {
		t.Errorf("iso: mode %q, want none", c.NetworkMode)
	}
	if c := topo.Container(p + "plain"); len(c.Networks) != 1 || c.Networks[0].Network != topology.DefaultBridge {
		t.Errorf("plain: networks %+v, want the default bridge", c.Networks)
	}

	// The plan gives every user-network endpoint the address Docker gave it.
	for _, c := range plan.Containers {
		list, err := r.client.ContainerList(ctx, client.ContainerListOptions{
			Filters: make(client.Filters).Add("name", "^/"+c.Name+"$")})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("finding container %s: %v %d", c.Name, err, len(list.Items))
		}
		info, err := r.client.ContainerInspect(ctx, list.Items[0].ID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, iface := range c.Interfaces {
			if iface.Network == topology.DefaultBridge {
				continue
			}
			ep := info.Container.NetworkSettings.Networks[iface.Network]
			if ep == nil || ep.IPAddress != iface.Address.Addr() {
				t.Errorf("%s on %s: plan %s, Docker %+v", c.Name, iface.Network, iface.Address, ep)
			}
		}
	}

	// Selecting side alone pulls in web, whose namespace it shares, and
	// web's networks.
	found, err = r.Discover(ctx, DiscoverOptions{Containers: []string{p + "side"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{p + "web", p + "side"}; !slices.Equal(found.Containers, want) {
		t.Errorf("containers of side %v, want %v", found.Containers, want)
	}
	if want := []string{p + "front", p + "back"}; !slices.Equal(found.Networks, want) {
		t.Errorf("networks of side %v, want %v", found.Networks, want)
	}
	if _, err := topology.Parse("side.yaml", found.YAML); err != nil {
		t.Errorf("parsing side's file: %v\n%s", err, found.YAML)
	}
}

func TestDiscoverMissingContainer(t *testing.T) {
	r := newTestRuntime(t)
	_, err := r.Discover(context.Background(), DiscoverOptions{Containers: []string{"tld-no-such-container"}})
	if err == nil || !strings.Contains(err.Error(), "tld-no-such-container") {
		t.Errorf("Discover of a missing container = %v, want an error naming it", err)
	}
}
