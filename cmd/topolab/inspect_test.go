package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInspectShapeFollowsDocker(t *testing.T) {
	plan, err := loadPlan("alpine-net")
	if err != nil {
		t.Fatal(err)
	}
	out, err := inspectNetworks(plan, "alpine-net")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	order := []string{`"Name"`, `"Id"`, `"Created"`, `"Scope"`, `"Driver"`, `"EnableIPv4"`, `"EnableIPv6"`,
		`"IPAM"`, `"Internal"`, `"Attachable"`, `"Ingress"`, `"ConfigFrom"`, `"ConfigOnly"`, `"Options"`,
		`"Labels"`, `"Containers"`, `"Status"`}
	// Each top-level field must come after the previous one.
	rest := text
	for _, key := range order {
		i := strings.Index(rest, key+":")
		if i < 0 {
			t.Fatalf("field %s missing or out of Docker's order in %s", key, text)
		}
		rest = rest[i+len(key):]
	}
	if !strings.Contains(text, `"Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]`) {
		t.Errorf("IPAM config wrong: %s", text)
	}
	n := out[0]
	if len(n.Containers) != 3 {
		t.Errorf("%d containers on alpine-net, want 3 (alpine1, alpine2, alpine4)", len(n.Containers))
	}
	// Network, broadcast and gateway addresses count as in use.
	status := n.Status.IPAM.Subnets["172.18.0.0/16"]
	if status.IPsInUse != 6 || status.DynamicIPsAvailable != 65530 {
		t.Errorf("status %+v, want 6 in use and 65530 available", status)
	}
	bridge, err := inspectNetworks(plan, "bridge")
	if err != nil {
		t.Fatal(err)
	}
	if bridge[0].Options["com.docker.network.bridge.name"] != "docker0" {
		t.Errorf("default bridge options %v lack the docker0 name", bridge[0].Options)
	}
	if _, err := inspectNetworks(plan, "nosuch"); err == nil {
		t.Error("inspecting an unknown network succeeded")
	}
}
