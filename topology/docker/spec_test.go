package docker

import (
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

func TestGatewayPrioritiesFollowPlan(t *testing.T) {
	for _, tc := range []struct {
		lab       string
		reordered bool
		want      map[string]int
	}{
		// alpine-net-alpine-net sorts before bridge, as alpine-net does.
		{"alpine-net", false, map[string]int{"alpine-net": 0, topology.DefaultBridge: 0}},
		// tlf-alpine-net-alpine-net sorts after bridge, so the plan's order
		// needs priorities.
		{"tlf-alpine-net", true, map[string]int{"alpine-net": 2, topology.DefaultBridge: 1}},
	} {
		topo, err := fixtures.Load("alpine-net")
		if err != nil {
			t.Fatal(err)
		}
		topo.Name = tc.lab
		plan, err := topology.PlanTopology(topo)
		if err != nil {
			t.Fatal(err)
		}
		got, reordered := gatewayPriorities(plan, plan.Container("alpine4"))
		if reordered != tc.reordered {
			t.Errorf("lab %s: reordered = %v, want %v", tc.lab, reordered, tc.reordered)
		}
		for network, want := range tc.want {
			if got[network] != want {
				t.Errorf("lab %s: priority of %s = %d, want %d", tc.lab, network, got[network], want)
			}
		}
		spec, err := buildContainerSpec(plan, plan.Container("alpine4"), "alpine", false)
		if err != nil {
			t.Fatal(err)
		}
		first := spec.create.NetworkingConfig.EndpointsConfig[dockerNetwork(plan.Lab, "alpine-net")]
		if first == nil || first.GwPriority != tc.want["alpine-net"] {
			t.Errorf("lab %s: first endpoint %+v, want gw-priority %d", tc.lab, first, tc.want["alpine-net"])
		}
	}
}
