package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"

	"github.com/topolab/topolab/topology"
	"golang.org/x/sys/unix"
)

// node is a place of the lab that probes run from: a container, the lab
// host or an outside host. Several nodes may share one namespace.
type node struct {
	name string
	kind topology.NodeKind
	lab  *lab
	// fd is the node's namespace, owned by lab and valid while the lab is
	// open; see lab.useFd.
	fd int
}

// enter switches the calling thread into the node's namespace.
func (n *node) enter() error {
	return n.lab.useFd(n.fd, func(fd int) error {
		err := unix.Setns(fd, unix.CLONE_NEWNET)
		if errors.Is(err, unix.EPERM) {
			// A namespace of another user namespace, such as a rootless
			// supervisor's.
			return fmt.Errorf("%w: entering network namespace: %v", topology.ErrNotLocal, err)
		}
		if err != nil {
			return fmt.Errorf("entering network namespace: %w", err)
		}
		return nil
	})
}

// Name returns the node's name.
func (n *node) Name() string { return n.name }

// Kind returns whether the node is a container, the host or an outside
// host.
func (n *node) Kind() topology.NodeKind { return n.kind }

// Do runs f on a locked OS thread switched into the node's network
// namespace and switches back before returning. Sockets that f opens stay
// in the namespace after Do returns.
func (n *node) Do(f func() error) error {
	if err := onThread(n.enter, f); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return nil
}

// Exec runs argv inside the node's network namespace and waits for it. The
// child is started from a thread switched into the namespace, so it
// inherits the namespace and nothing else changes: it keeps this process's
// mount namespace, file system and credentials.
func (n *node) Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return fmt.Errorf("node %s: running a program: empty command", n.name)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := onThread(n.enter, cmd.Start)
	if err != nil {
		return fmt.Errorf("node %s: starting %s: %w", n.name, argv[0], err)
	}
	if err := n.checkChild(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("node %s: starting %s: %w", n.name, argv[0], err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("node %s: running %s: %w", n.name, argv[0], err)
	}
	return nil
}

// checkChild confirms that process pid runs in the node's namespace. A
// child that already exited cannot be checked and passes.
func (n *node) checkChild(pid int) error {
	var want uint64
	err := n.lab.useFd(n.fd, func(fd int) (err error) {
		want, err = netnsInode(fd)
		return err
	})
	if err != nil {
		return fmt.Errorf("reading the node's namespace: %w", err)
	}
	got, err := pidNetnsInode(pid)
	if err != nil {
		return nil
	}
	if got != want {
		return fmt.Errorf("child %d is in network namespace %d, not the node's %d", pid, got, want)
	}
	return nil
}

// outsideNode is an outside host. All outside hosts share the outside
// namespace, so each binds its own address before sending.
type outsideNode struct {
	node
	addr netip.Addr
}

// SourceAddr returns the outside host's address, which probes from it bind
// as their source.
func (o *outsideNode) SourceAddr() netip.Addr { return o.addr }

var _ topology.SourceAddresser = (*outsideNode)(nil)
