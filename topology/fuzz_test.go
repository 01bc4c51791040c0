package topology_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

// FuzzParse feeds the loader arbitrary bytes. Parse must never panic, its
// errors must keep their contract, and a file it accepts must plan without
// panicking, the same way twice, into a plan that keeps Docker's address
// rules.
func FuzzParse(f *testing.F) {
	for _, fx := range fixtures.List() {
		f.Add(fx.Data)
	}
	seeds, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range hostileCases() {
		if len(tc.data) <= 8<<10 {
			f.Add(tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		top, err := topology.Parse("fuzz.yaml", data)
		if err != nil {
			checkErrorContract(t, err)
			return
		}
		p1, err := topology.PlanTopology(top)
		if err != nil {
			checkErrorContract(t, err)
			return
		}
		p2, err := topology.PlanTopology(top)
		if err != nil {
			t.Fatalf("second plan failed: %v", err)
		}
		j1, err1 := json.Marshal(p1)
		j2, err2 := json.Marshal(p2)
		if err1 != nil || err2 != nil {
			t.Fatalf("marshalling plans: %v, %v", err1, err2)
		}
		if !bytes.Equal(j1, j2) {
			t.Fatal("two plans of one topology differ")
		}
		checkPlanInvariants(t, top, p1)
	})
}

func checkErrorContract(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, topology.ErrInvalid) {
		t.Fatalf("error does not match ErrInvalid: %v", err)
	}
	var list topology.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is %T, want a non-empty ErrorList", err)
	}
	for _, e := range list {
		if e.Pos.Line < 1 && !strings.HasSuffix(e.Msg, "are not listed") {
			t.Errorf("error without a position: %v", e)
		}
		if e.Msg == "" || e.Fix == "" {
			t.Errorf("error without a message or fix: %q", e)
		}
	}
}

// checkPlanInvariants checks the rules every plan keeps whatever the file:
// each address inside its subnet, off the network, broadcast and gateway
// addresses and unique on its network, and each published port bound on
// the container's gateway endpoint.
func checkPlanInvariants(t *testing.T, top *topology.Topology, p *topology.Plan) {
	t.Helper()
	if len(p.Containers) != len(top.Containers) {
		t.Fatalf("plan has %d containers, topology %d", len(p.Containers), len(top.Containers))
	}
	used := map[string]map[netip.Addr]string{}
	for _, c := range p.Containers {
		for _, i := range c.Interfaces {
			n := p.Network(i.Network)
			if n == nil {
				t.Fatalf("%s: interface on unplanned network %s", c.Name, i.Network)
			}
			a := i.Address.Addr()
			if !n.Subnet.Contains(a) || i.Address.Bits() != n.Subnet.Bits() {
				t.Errorf("%s: address %s outside %s", c.Name, i.Address, n.Subnet)
			}
			if a == n.Subnet.Addr() || a == n.Gateway {
				t.Errorf("%s: address %s is the network or gateway address of %s", c.Name, a, n.Name)
			}
			if used[n.Name] == nil {
				used[n.Name] = map[netip.Addr]string{}
			}
			if other, dup := used[n.Name][a]; dup {
				t.Errorf("%s and %s share %s on %s", other, c.Name, a, n.Name)
			}
			used[n.Name][a] = c.Name
		}
		for _, b := range c.Ports {
			if c.Gateway == nil || b.ContainerIP != c.Gateway.Address.Addr() || b.Network != c.Gateway.Network {
				t.Errorf("%s: port %+v is not bound on the gateway endpoint", c.Name, b)
			}
			if b.HostPort == 0 {
				t.Errorf("%s: port %+v has no host port", c.Name, b)
			}
		}
	}
}
