package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// Lab is a running Docker lab. Its methods are safe for concurrent use
// once Up has returned it.
type Lab struct {
	rt *Runtime
	// plan is the plan with the addresses, MACs and host veths Docker
	// chose; planned is the plan Up was given.
	plan, planned *topology.Plan

	mu sync.Mutex
	// ids maps container names to Docker container IDs.
	ids map[string]string
	// pids maps container names to the PIDs of their init processes, 0 when
	// unknown.
	pids        map[string]int
	differences []string
	outside     *outside
	// gateways are the bridge gateways assigned on this machine, which the
	// host may probe.
	gateways []netip.Addr

	// attached is true for a lab opened by Attach, whose Close leaves the
	// lab running.
	attached bool

	nodes  []topology.Node
	byName map[string]topology.Node

	closeOnce sync.Once
	closeErr  error
}

var _ topology.Lab = (*Lab)(nil)

func newLab(r *Runtime, plan *topology.Plan) *Lab {
	return &Lab{
		rt:      r,
		planned: plan,
		plan:    copyPlan(plan),
		ids:     map[string]string{},
		pids:    map[string]int{},
	}
}

func (l *Lab) addContainer(name, id string) {
	if id == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[name] = id
}

// Plan returns the plan as Docker instantiated it: the given plan with the
// addresses Docker assigned on the default bridge, the MAC addresses it
// generated, and the host-side veth names when the daemon is local.
func (l *Lab) Plan() *topology.Plan { return l.plan }

// Planned returns the plan that Up was given.
func (l *Lab) Planned() *topology.Plan { return l.planned }

// Differences lists, one sentence each, where Docker's lab differs from the
// plan: addresses, interface order and default gateways.
func (l *Lab) Differences() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.differences...)
}

// ContainerID returns the Docker ID of the named container, or "".
func (l *Lab) ContainerID(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[name]
}

// Nodes returns the containers in plan order, then the host, then the
// outside hosts.
func (l *Lab) Nodes() []topology.Node { return l.nodes }

// Node returns the node with the given name, or nil.
func (l *Lab) Node(name string) topology.Node {
	if n, ok := l.byName[name]; ok {
		return n
	}
	return nil
}

// Close removes the lab's containers and networks, then its outside
// namespace, veth and rules. Close of a lab opened by Attach only stops
// this process's outside servers and leaves the lab running. It is safe to
// call more than once.
func (l *Lab) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		if l.attached {
			if l.outside != nil {
				l.outside.release()
			}
			return
		}
		_, err := l.rt.removeLabelled(ctx, l.plan.Lab)
		var outErr error
		if l.outside != nil {
			outErr = l.outside.close()
		} else if l.rt.local {
			_, outErr = removeOutsideLeftovers(l.plan.Lab)
		}
		l.closeErr = errors.Join(err, outErr)
	})
	return l.closeErr
}

func (l *Lab) addDifference(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.differences = append(l.differences, fmt.Sprintf(format, args...))
}

// readBack inspects every container and updates l.plan with what Docker
// did, recording each difference from the given plan.
func (l *Lab) readBack(ctx context.Context) error {
	for _, c := range l.plan.Containers {
		id := l.ContainerID(c.Name)
		info, err := l.rt.client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspecting container %s: %w", objectName(l.plan.Lab, c.Name), err)
		}
		state := info.Container.State
		if state == nil || !state.Running {
			return fmt.Errorf("starting container %s: it exited right away (see docker logs %s)",
				objectName(l.plan.Lab, c.Name), objectName(l.plan.Lab, c.Name))
		}
		l.mu.Lock()
		l.pids[c.Name] = state.Pid
		l.mu.Unlock()

		var endpoints map[string]*endpoint
		if settings := info.Container.NetworkSettings; settings != nil {
			endpoints = map[string]*endpoint{}
			for name, ep := range settings.Networks {
				endpoints[name] = &endpoint{addr: ep.IPAddress, bits: ep.IPPrefixLen, mac: ep.MacAddress.String()}
			}
		}
		l.compareInterfaces(c, endpoints)
		if l.rt.local && len(c.Interfaces) > 0 {
			if err := l.compareNamespace(c, state.Pid); err != nil {
				return err
			}
		}
	}
	return nil
}

// endpoint is Docker's report of one container endpoint.
type endpoint struct {
	addr netip.Addr
	bits int
	mac  string
}

// compareInterfaces patches c's interfaces with Docker's endpoints.
func (l *Lab) compareInterfaces(c *topology.PlannedContainer, endpoints map[string]*endpoint) {
	for _, iface := range c.Interfaces {
		ep := endpoints[dockerNetwork(l.plan.Lab, iface.Network)]
		if ep == nil || !ep.addr.IsValid() {
			l.addDifference("%s has no endpoint on network %s", c.Name, iface.Network)
			continue
		}
		got := netip.PrefixFrom(ep.addr, ep.bits)
		if got != iface.Address {
			l.addDifference("%s has address %s on network %s, the plan says %s", c.Name, got, iface.Network, iface.Address)
			for i := range c.Ports {
				if c.Ports[i].ContainerIP == iface.Address.Addr() {
					c.Ports[i].ContainerIP = ep.addr
				}
			}
			iface.Address = got
		}
		if ep.mac != "" {
			iface.MAC = ep.mac
		}
	}
}

// sourcePrefixes returns the source addresses that may reach the outside
// router: the subnets of the lab's user networks and the lab's
// default-bridge addresses, which share docker0 with other containers.
func (l *Lab) sourcePrefixes() []netip.Prefix {
	var prefixes []netip.Prefix
	for _, n := range l.plan.Networks {
		if !n.Default {
			prefixes = append(prefixes, n.Subnet.Masked())
		}
	}
	for _, c := range l.plan.Containers {
		if iface := c.Interface(topology.DefaultBridge); iface != nil {
			prefixes = append(prefixes, netip.PrefixFrom(iface.Address.Addr(), 32))
		}
	}
	return prefixes
}

// copyPlan returns a copy of plan whose containers, interfaces and port
// bindings can be changed without changing plan.
func copyPlan(plan *topology.Plan) *topology.Plan {
	p := *plan
	p.Containers = make([]*topology.PlannedContainer, len(plan.Containers))
	for i, c := range plan.Containers {
		cc := *c
		cc.Interfaces = make([]*topology.Interface, len(c.Interfaces))
		for j, iface := range c.Interfaces {
			ic := *iface
			cc.Interfaces[j] = &ic
			if c.Gateway == iface {
				cc.Gateway = &ic
			}
		}
		cc.Ports = append([]topology.PortBinding(nil), c.Ports...)
		p.Containers[i] = &cc
	}
	// The copied index points at plan's containers.
	p.BuildIndex()
	return &p
}

// HostVeth is the Docker host's end of a container interface.
type HostVeth struct {
	Container string
	// Interface is the container-side name, eth0 and up.
	Interface string
	Network   string
	// Name and Index identify the veth in the Docker host namespace.
	Name  string
	Index int
}
