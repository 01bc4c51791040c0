package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/topology"
)

// networkInspect is one network in the shape of docker network inspect
// (Docker Engine 29, API 1.52), fields in Docker's order.
// NOTE: Created is the zero time, because a plan does not record when its
// lab was built.
type networkInspect struct {
	Name       string                     `json:"Name"`
	ID         string                     `json:"Id"`
	Created    time.Time                  `json:"Created"`
	Scope      string                     `json:"Scope"`
	Driver     string                     `json:"Driver"`
	EnableIPv4 bool                       `json:"EnableIPv4"`
	EnableIPv6 bool                       `json:"EnableIPv6"`
	IPAM       ipamInspect                `json:"IPAM"`
	Internal   bool                       `json:"Internal"`
	Attachable bool                       `json:"Attachable"`
	Ingress    bool                       `json:"Ingress"`
	ConfigFrom map[string]string          `json:"ConfigFrom"`
	ConfigOnly bool                       `json:"ConfigOnly"`
	Options    map[string]string          `json:"Options"`
	Labels     map[string]string          `json:"Labels"`
	Containers map[string]endpointInspect `json:"Containers"`
	Status     *networkStatus             `json:"Status,omitempty"`
}

type ipamInspect struct {
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	Config  []ipamConfig      `json:"Config"`
}

type ipamConfig struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

type endpointInspect struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

type networkStatus struct {
	IPAM struct {
		Subnets map[string]subnetStatus `json:"Subnets"`
	} `json:"IPAM"`
}

type subnetStatus struct {
	IPsInUse            uint64 `json:"IPsInUse"`
	DynamicIPsAvailable uint64 `json:"DynamicIPsAvailable"`
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	o := &runtimeOptions{}
	c := &cobra.Command{
		Use:   "inspect NAME [NETWORK]",
		Short: "Print a running lab's networks in the shape of docker network inspect",
		Example: `  topolab inspect alpine-net
  topolab inspect alpine-net bridge`,
		Args: rangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := g.checkFormat("table", "json"); err != nil {
				return err
			}
			lab, err := o.attach(c.Context(), g, args[0])
			if err != nil {
				return err
			}
			defer lab.Close(context.Background())
			network := ""
			if len(args) == 2 {
				network = args[1]
			}
			out, err := inspectNetworks(lab.Plan(), network)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(g.Out)
			enc.SetIndent("", "    ")
			return enc.Encode(out)
		},
	}
	o.addFlags(c)
	return c
}

// defaultBridgeOptions are the options docker network inspect shows for the
// default bridge of a daemon with default settings.
var defaultBridgeOptions = map[string]string{
	"com.docker.network.bridge.default_bridge":       "true",
	"com.docker.network.bridge.enable_icc":           "true",
	"com.docker.network.bridge.enable_ip_masquerade": "true",
	"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
	"com.docker.network.bridge.name":                 "docker0",
	"com.docker.network.driver.mtu":                  "1500",
}

func inspectNetworks(plan *topology.Plan, only string) ([]networkInspect, error) {
	var out []networkInspect
	for _, n := range plan.Networks {
		if only != "" && n.Name != only {
			continue
		}
		out = append(out, inspectNetwork(plan, n))
	}
	if only == topology.HostNetwork || only == topology.NoneNetwork {
		driver := "host"
		if only == topology.NoneNetwork {
			driver = "null"
		}
		out = append(out, networkInspect{Name: only, Driver: driver, Scope: "local", EnableIPv4: true,
			ID: endpointID(plan.Lab, "network", only), IPAM: ipamInspect{Driver: "default", Options: map[string]string{}, Config: []ipamConfig{}},
			ConfigFrom: map[string]string{"Network": ""}, Options: map[string]string{}, Labels: map[string]string{},
			Containers: modeContainers(plan, only)})
	}
	if len(out) == 0 {
		names := []string{topology.HostNetwork, topology.NoneNetwork}
		for _, n := range plan.Networks {
			names = append(names, n.Name)
		}
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("lab %s has no network %s; its networks: %s",
			plan.Lab, only, strings.Join(names, ", "))}
	}
	return out, nil
}

func inspectNetwork(plan *topology.Plan, n *topology.PlannedNetwork) networkInspect {
	ni := networkInspect{
		Name:       n.Name,
		ID:         n.ID,
		Scope:      "local",
		Driver:     n.Driver,
		EnableIPv4: true,
		IPAM: ipamInspect{Driver: "default", Options: map[string]string{},
			Config: []ipamConfig{{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}}},
		Internal:   n.Internal,
		ConfigFrom: map[string]string{"Network": ""},
		Options:    map[string]string{},
		Labels:     map[string]string{},
		Containers: map[string]endpointInspect{},
	}
	if n.Default {
		ni.Options = defaultBridgeOptions
	} else {
		for k, v := range n.Options {
			ni.Options[k] = v
		}
		if !n.ICC {
			ni.Options["com.docker.network.bridge.enable_icc"] = "false"
		}
	}
	for _, c := range plan.Containers {
		if i := c.Interface(n.Name); i != nil {
			ni.Containers[c.ID] = endpointInspect{Name: c.Name, EndpointID: endpointID(c.ID, "endpoint", n.ID),
				MacAddress: i.MAC, IPv4Address: i.Address.String()}
		}
	}
	// Docker counts the network and broadcast addresses and the gateway as
	// in use, besides the containers.
	size := new(big.Int).Lsh(big.NewInt(1), uint(32-n.Subnet.Bits())).Uint64()
	inUse := uint64(3 + len(ni.Containers))
	ni.Status = &networkStatus{}
	ni.Status.IPAM.Subnets = map[string]subnetStatus{
		n.Subnet.String(): {IPsInUse: inUse, DynamicIPsAvailable: size - inUse},
	}
	return ni
}

func modeContainers(plan *topology.Plan, mode string) map[string]endpointInspect {
	out := map[string]endpointInspect{}
	for _, c := range plan.Containers {
		if c.Mode == mode {
			out[c.ID] = endpointInspect{Name: c.Name, EndpointID: endpointID(c.ID, "endpoint", mode)}
		}
	}
	return out
}

func endpointID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
