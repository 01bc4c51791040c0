package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// ExitError is returned by a container node's Exec when the program ran and
// exited with a non-zero status.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }

// ExitCode returns the program's exit status, as os/exec.ExitError does.
func (e *ExitError) ExitCode() int { return e.Code }

// errHostExec is returned by Exec of the host and outside nodes.
var errHostExec = errors.New("running programs is supported only in containers: use Do")

// buildNodes creates the lab's nodes: containers in plan order, the host,
// then the outside hosts.
func (l *Lab) buildNodes() {
	l.byName = map[string]topology.Node{}
	add := func(n topology.Node) {
		l.nodes = append(l.nodes, n)
		l.byName[n.Name()] = n
	}
	for _, c := range l.plan.Containers {
		add(&containerNode{lab: l, name: c.Name})
	}
	add(&hostNode{lab: l})
	if l.outside == nil {
		return
	}
	for _, h := range l.plan.Outside {
		add(&outsideNode{lab: l, name: h.Name, addr: h.Address})
	}
}

// containerNode is a container of the lab.
type containerNode struct {
	lab  *Lab
	name string
}

func (n *containerNode) Name() string            { return n.name }
func (n *containerNode) Kind() topology.NodeKind { return topology.NodeContainer }

// AllowsTarget reports whether a probe from the container may be sent to
// addr. A container in host network mode, or sharing the namespace of one,
// is in this machine's own namespace and gets the host's limits; any other
// container has a namespace of its own and may send anywhere the lab
// routes.
func (n *containerNode) AllowsTarget(addr netip.Addr) bool {
	if !n.inHostNamespace() {
		return true
	}
	return hostAllows(n.lab, addr)
}

// SourceFor returns, for a container in the host's namespace, the source
// address the host binds to reach dst, and the zero Addr otherwise.
func (n *containerNode) SourceFor(dst netip.Addr) netip.Addr {
	if !n.inHostNamespace() {
		return netip.Addr{}
	}
	return hostSource(n.lab, dst)
}

// inHostNamespace reports whether the container runs in this machine's own
// namespace: in host network mode, or sharing the namespace of such a
// container.
func (n *containerNode) inHostNamespace() bool {
	plan := n.lab.plan
	c := plan.Container(n.name)
	return c != nil && plan.NetnsOwner(c) == nil
}

// Do runs f in the container's network namespace, entered through
// /proc/PID/ns/net of its init process. It returns topology.ErrNotLocal
// when the daemon is not on this machine.
func (n *containerNode) Do(f func() error) error {
	if !n.lab.rt.local {
		return topology.ErrNotLocal
	}
	n.lab.mu.Lock()
	pid := n.lab.pids[n.name]
	n.lab.mu.Unlock()
	return inPidNetns(pid, f)
}

// Exec runs argv in the container as docker exec does, without a terminal.
// A non-zero exit status is an *ExitError; output written before it is
// still copied to stdout and stderr.
func (n *containerNode) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := n.lab.rt.client
	id := n.lab.ContainerID(n.name)
	created, err := c.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd:          argv,
		AttachStdin:  stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("creating exec in %s: %w", n.name, err)
	}
	attached, err := c.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("attaching to exec in %s: %w", n.name, err)
	}
	defer attached.Close()
	stop := context.AfterFunc(ctx, attached.Close)
	defer stop()

	if stdin != nil {
		go func() {
			io.Copy(attached.Conn, stdin)
			attached.CloseWrite()
		}()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, attached.Reader); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading exec output in %s: %w", n.name, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("running %s in %s: %w", argv[0], n.name, ctx.Err())
	}
	inspect, err := c.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspecting exec in %s: %w", n.name, err)
	}
	if inspect.ExitCode != 0 {
		return &ExitError{Code: inspect.ExitCode}
	}
	return nil
}

// hostNode is the Docker host: this process's own network namespace.
type hostNode struct {
	lab *Lab
}

func (n *hostNode) Name() string            { return topology.HostNode }
func (n *hostNode) Kind() topology.NodeKind { return topology.NodeHost }

// Do runs f on a locked OS thread in this process's network namespace,
// which must be the Docker host's. Callers must aim probes from it only at
// addresses AllowsTarget accepts.
func (n *hostNode) Do(f func() error) error {
	if !n.lab.rt.local {
		return topology.ErrNotLocal
	}
	return runLocked(f)
}

// Exec is not supported on the host, whose network is the machine's own.
func (n *hostNode) Exec(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
	return fmt.Errorf("running %s: %w", topology.HostNode, errHostExec)
}

// AllowsTarget reports whether a probe from the host may be sent to addr:
// a loopback address (published ports), the uplink address, an outside
// host, a lab bridge's gateway assigned on this machine, or an address of a
// lab container. The outside router is allowed only while the policy rule
// carries packets from the uplink address to it through the lab's veth,
// and only for senders that bind SourceFor(addr), the uplink address.
// Everything else is the machine's real network and must not be probed.
func (n *hostNode) AllowsTarget(addr netip.Addr) bool { return hostAllows(n.lab, addr) }

// SourceFor returns the uplink address for the outside router, because
// only packets from it are routed to the lab's outside rather than to the
// machine's own network, and the zero Addr for every other destination.
func (n *hostNode) SourceFor(dst netip.Addr) netip.Addr { return hostSource(n.lab, dst) }

func hostSource(lab *Lab, dst netip.Addr) netip.Addr {
	if dst == lab.plan.Router && lab.outside != nil {
		return lab.plan.Uplink.Addr()
	}
	return netip.Addr{}
}

func hostAllows(lab *Lab, addr netip.Addr) bool {
	plan := lab.plan
	if addr.IsLoopback() || addr == plan.Uplink.Addr() {
		return true
	}
	if addr == plan.Router {
		return lab.outside != nil && hostSource(lab, addr) == plan.Uplink.Addr() && lab.outside.carriesRouter()
	}
	for _, h := range plan.Outside {
		if h.Address == addr {
			return lab.outside != nil
		}
	}
	if slices.Contains(lab.gateways, addr) {
		return true
	}
	for _, c := range plan.Containers {
		for _, iface := range c.Interfaces {
			if iface.Address.Addr() == addr {
				return true
			}
		}
	}
	return false
}

// outsideNode is an outside host; all of them share the outside namespace
// and bind their own address.
type outsideNode struct {
	lab  *Lab
	name string
	addr netip.Addr
}

func (n *outsideNode) Name() string            { return n.name }
func (n *outsideNode) Kind() topology.NodeKind { return topology.NodeOutside }

// SourceAddr returns the outside host's address, which probes from it must
// bind before sending.
func (n *outsideNode) SourceAddr() netip.Addr { return n.addr }

// Do runs f in the outside namespace.
func (n *outsideNode) Do(f func() error) error { return inNetns(n.lab.outside.ns, f) }

// Exec is not supported on outside hosts, which have no file system of
// their own.
func (n *outsideNode) Exec(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
	return fmt.Errorf("running in %s: %w", n.name, errHostExec)
}
