//go:build linux

package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/topology"
)

// responderPath is the topolab-responder that TestMain builds for the probe
// image.
var responderPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "topolab-docker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	responderPath = filepath.Join(dir, "topolab-responder")
	build := exec.Command("go", "build", "-o", responderPath, "github.com/topolab/topolab/cmd/topolab-responder")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building topolab-responder:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newTestRuntime returns a runtime on the local daemon, skipping t unless
// Docker and root are available.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	testenv.RequireDocker(t)
	testenv.RequireRoot(t)
	testenv.LockDocker(t)
	r, err := New(Options{Host: "unix://" + testenv.DockerSocket, Responder: responderPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// loadPlan plans a fixture under a lab name of the test's own.
func loadPlan(t testing.TB, fixture, lab string) *topology.Plan {
	t.Helper()
	topo, err := fixtures.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	topo.Name = lab
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// upLab starts plan and registers a labelled cleanup that runs even when
// the test fails before it closes the lab itself.
func upLab(t testing.TB, r *Runtime, plan *topology.Plan) *Lab {
	t.Helper()
	t.Cleanup(func() { removeLab(t, r, plan.Lab) })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lab, err := r.Up(ctx, plan)
	if err != nil {
		t.Fatalf("Up(%s): %v", plan.Lab, err)
	}
	l := lab.(*Lab)
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func removeLab(t testing.TB, r *Runtime, lab string) {
	err := r.Down(context.Background(), lab)
	if err != nil && !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("Down(%s): %v", lab, err)
	}
}

// assertNoLeftovers fails t if any object of lab exists.
func assertNoLeftovers(t *testing.T, r *Runtime, lab string) {
	t.Helper()
	found, err := r.findLab(context.Background(), lab)
	if err != nil {
		t.Fatal(err)
	}
	if found.any() {
		t.Errorf("lab %s left objects: %+v", lab, found)
	}
	if _, err := netlink.LinkByName(vethName(lab)); err == nil {
		t.Errorf("lab %s left its outside veth %s", lab, vethName(lab))
	}
	rules, err := netlink.RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range rules {
		if rule.Table == ruleTable(lab) {
			t.Errorf("lab %s left a rule: %v", lab, rule)
		}
	}
}

// checkInterfaces checks, inside every container, that each planned
// interface exists with its planned address.
func checkInterfaces(t *testing.T, lab *Lab) {
	t.Helper()
	for _, c := range lab.Plan().Containers {
		if len(c.Interfaces) == 0 {
			continue
		}
		err := lab.Node(c.Name).Do(func() error {
			for _, iface := range c.Interfaces {
				link, err := netlink.LinkByName(iface.Name)
				if err != nil {
					return fmt.Errorf("%s: finding %s: %w", c.Name, iface.Name, err)
				}
				addrs, err := netlink.AddrList(link, unix.AF_INET)
				if err != nil {
					return err
				}
				found := false
				for _, a := range addrs {
					bits, _ := a.Mask.Size()
					ip, _ := netip.AddrFromSlice(a.IP.To4())
					if netip.PrefixFrom(ip, bits) == iface.Address {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %s: addresses %v, want %s", c.Name, iface.Name, addrs, iface.Address)
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
}

// httpHello sends a GET to addr from src (any source when invalid) and
// returns the response body.
func httpHello(src netip.Addr, addr string) (string, error) {
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	conn, err := dialer.Dial("tcp4", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return string(data), err
}

func TestUpDownAlpineNet(t *testing.T) {
	r := newTestRuntime(t)
	plan := loadPlan(t, "alpine-net", "tlt-alpine")
	lab := upLab(t, r, plan)

	checkInterfaces(t, lab)
	for _, c := range plan.Containers {
		for _, iface := range c.Interfaces {
			if iface.Network == topology.DefaultBridge {
				continue
			}
			got := lab.Plan().Container(c.Name).Interface(iface.Network)
			if got.Address != iface.Address || got.Name != iface.Name {
				t.Errorf("%s on %s: %s %s, plan says %s %s", c.Name, iface.Network, got.Name, got.Address, iface.Name, iface.Address)
			}
		}
	}
	t.Logf("differences: %q", lab.Differences())

	veths, err := lab.HostVeths()
	if err != nil {
		t.Fatal(err)
	}
	if len(veths) != 5 {
		t.Errorf("HostVeths: %d veths, want 5: %+v", len(veths), veths)
	}
	for _, v := range veths {
		iface := lab.Plan().Container(v.Container).Interface(v.Network)
		if iface == nil || iface.HostVeth != v.Name {
			t.Errorf("veth %+v does not match plan interface %+v", v, iface)
		}
	}

	labs, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(labs, func(l topology.LabInfo) bool { return l.Name == plan.Lab }) {
		t.Errorf("List() = %v, want %s in it", labs, plan.Lab)
	}

	if err := r.Down(context.Background(), plan.Lab); err != nil {
		t.Fatalf("Down: %v", err)
	}
	lab.Close(context.Background())
	assertNoLeftovers(t, r, plan.Lab)
	if err := r.Down(context.Background(), plan.Lab); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("second Down = %v, want ErrNoLab", err)
	}
}

func TestUpDownNat(t *testing.T) {
	r := newTestRuntime(t)
	plan := loadPlan(t, "nat", "tlt-nat")
	lab := upLab(t, r, plan)

	checkInterfaces(t, lab)
	info, err := r.client.ContainerInspect(context.Background(), lab.ContainerID("web1"), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bindings := info.Container.NetworkSettings.Ports; len(bindings) != 1 {
		t.Errorf("web1 port bindings = %v, want 80/tcp only", bindings)
	}
	t.Logf("differences: %q", lab.Differences())

	// The host reaches the published port on loopback through docker-proxy,
	// and an outside host reaches it on the uplink address through DNAT.
	host := lab.Node(topology.HostNode).(*hostNode)
	if !host.AllowsTarget(topology.Localhost) {
		t.Error("host may not probe 127.0.0.1")
	}
	// The router address may be the machine's real gateway: the host may
	// probe it only from the uplink address, which the policy rule routes
	// to the lab's outside.
	if !host.AllowsTarget(plan.Router) || host.SourceFor(plan.Router) != plan.Uplink.Addr() {
		t.Errorf("host: AllowsTarget(%s) = %v with source %s, want true with source %s",
			plan.Router, host.AllowsTarget(plan.Router), host.SourceFor(plan.Router), plan.Uplink.Addr())
	}
	if host.SourceFor(netip.MustParseAddr("8.8.8.8")).IsValid() || host.AllowsTarget(netip.MustParseAddr("192.0.2.2")) {
		t.Error("host may probe an address beside the router in 192.0.2.0/24, or binds a source for a foreign address")
	}
	var body string
	err = host.Do(func() error {
		body, err = httpHello(netip.Addr{}, "127.0.0.1:8080")
		return err
	})
	if err != nil || !strings.HasPrefix(body, "topolab server=web1 client=172.17.0.1:") {
		t.Errorf("host to 127.0.0.1:8080: %q, %v; want web1 seeing the docker0 gateway", body, err)
	}
	outside := lab.Node("client.example.net")
	src := outside.(topology.SourceAddresser).SourceAddr()
	err = outside.Do(func() error {
		body, err = httpHello(src, "192.0.2.10:8080")
		return err
	})
	if err != nil || !strings.HasPrefix(body, "topolab server=web1 client=198.51.100.20:") {
		t.Errorf("client.example.net to 192.0.2.10:8080: %q, %v; want web1 seeing 198.51.100.20", body, err)
	}

	if err := lab.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertNoLeftovers(t, r, plan.Lab)
}

// TestUpRollsBack makes the last container fail and checks that Up removed
// everything it had created.
func TestUpRollsBack(t *testing.T) {
	r := newTestRuntime(t)
	plan := loadPlan(t, "alpine-net", "tlt-rollback")
	t.Cleanup(func() { removeLab(t, r, plan.Lab) })
	// alpine2 requests alpine1's address, which Docker rejects.
	a1 := plan.Container("alpine1").Interface("alpine-net")
	a2 := plan.Container("alpine2").Interface("alpine-net")
	a2.Address = a1.Address

	_, err := r.Up(context.Background(), plan)
	if err == nil {
		t.Fatal("Up with a duplicate address succeeded")
	}
	t.Logf("Up error: %v", err)
	assertNoLeftovers(t, r, plan.Lab)
}

// TestUnlabelledUntouched checks that Down and Up leave alone a network
// named like a lab object but without the label.
func TestUnlabelledUntouched(t *testing.T) {
	r := newTestRuntime(t)
	ctx := context.Background()
	plan := loadPlan(t, "alpine-net", "tlt-foreign")
	name := objectName(plan.Lab, "alpine-net")
	// The subnet differs from the plan's, so only the name collides. The
	// network gets no container and carries no traffic.
	created, err := r.client.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("172.31.250.0/24")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.client.NetworkRemove(ctx, created.ID, client.NetworkRemoveOptions{}) })
	image, err := r.ProbeImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := r.client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       objectName(plan.Lab, "alpine1"),
		Config:     &container.Config{Image: image},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.client.ContainerRemove(ctx, foreign.ID, client.ContainerRemoveOptions{Force: true}) })

	if err := r.Down(ctx, plan.Lab); !errors.Is(err, topology.ErrNoLab) {
		t.Errorf("Down of a lab with only a foreign network = %v, want ErrNoLab", err)
	}
	if _, err := r.Up(ctx, plan); err == nil {
		t.Error("Up succeeded beside a foreign network of the same name")
	} else {
		t.Logf("Up error: %v", err)
	}
	// Without the network, Up gets as far as the container name.
	plan2 := loadPlan(t, "alpine-net", plan.Lab)
	plan2.Networks[1].Name = "other-net"
	for _, c := range plan2.Containers {
		for _, iface := range c.Interfaces {
			if iface.Network == "alpine-net" {
				iface.Network = "other-net"
			}
		}
	}
	plan2.BuildIndex()
	if _, err := r.Up(ctx, plan2); err == nil {
		t.Error("Up succeeded beside a foreign container of the same name")
	} else {
		t.Logf("Up error: %v", err)
	}
	removeLab(t, r, plan.Lab)
	if _, err := r.client.NetworkInspect(ctx, created.ID, client.NetworkInspectOptions{}); err != nil {
		t.Errorf("foreign network %s is gone: %v", name, err)
	}
	if _, err := r.client.ContainerInspect(ctx, foreign.ID, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("foreign container is gone: %v", err)
	}
	assertNoLeftovers(t, r, plan.Lab)
}
