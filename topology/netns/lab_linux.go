package netns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/topolab/topolab/topology"
	"golang.org/x/sys/unix"
)

// lab is a running lab: the namespaces it holds by file descriptor, its
// servers and its nodes.
type lab struct {
	plan *topology.Plan
	log  *slog.Logger

	hostFd    int
	outsideFd int
	// containerFd maps each container that has a namespace of its own
	// (bridge and none modes) to it.
	containerFd map[string]int
	bridgeIndex map[string]int
	// staticNeighbours is true for labs too large for dynamic neighbour
	// entries; see needsStaticNeighbours.
	staticNeighbours bool

	nodes  []topology.Node
	byName map[string]topology.Node

	// stop cancels the servers' context; servers counts the running ones.
	stop    context.CancelFunc
	servers sync.WaitGroup
	// closers are the listeners and sockets of the servers, closed by Close.
	closers []func() error
	lock    *os.File
	// owner is false for a lab opened by Runtime.Attach, whose Close only
	// releases this process's file descriptors.
	owner bool

	// fdMu guards closed: the namespace descriptors are closed under the
	// write lock, and nodes use them under the read lock.
	fdMu   sync.RWMutex
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// errLabClosed is returned by nodes of a closed lab.
var errLabClosed = errors.New("lab is closed")

// useFd runs f with fd, one of the lab's namespace descriptors, which stays
// open while f runs. It returns errLabClosed after Close, when the number
// may already belong to another file.
func (l *lab) useFd(fd int, f func(fd int) error) error {
	l.fdMu.RLock()
	defer l.fdMu.RUnlock()
	if l.closed || fd < 0 {
		return errLabClosed
	}
	return f(fd)
}

func newLab(plan *topology.Plan, log *slog.Logger) *lab {
	return &lab{
		plan:        plan,
		log:         log,
		hostFd:      -1,
		outsideFd:   -1,
		containerFd: map[string]int{},
		bridgeIndex: map[string]int{},
		byName:      map[string]topology.Node{},
		owner:       true,

		staticNeighbours: needsStaticNeighbours(plan),
	}
}

// Up builds plan as a lab held by this process. The lab disappears when it
// is closed or when the process exits. On error, and when ctx is cancelled
// before Up returns, everything built so far is removed.
func (r *Runtime) Up(ctx context.Context, plan *topology.Plan) (topology.Lab, error) {
	lock, err := r.lockLab(plan.Lab)
	if err != nil {
		return nil, err
	}
	l, err := r.build(ctx, plan)
	if err != nil {
		unlockLab(lock)
		return nil, err
	}
	l.lock = lock
	return l, nil
}

func (r *Runtime) build(ctx context.Context, plan *topology.Plan) (_ *lab, err error) {
	if err := checkPlan(plan); err != nil {
		return nil, err
	}
	l := newLab(plan, r.log.With("lab", plan.Lab))
	defer func() {
		if err != nil {
			l.Close(context.Background())
		}
	}()
	steps := []struct {
		name string
		run  func() error
	}{
		{"building lab host and outside", l.buildHost},
		{"building containers", func() error { return l.buildContainers(ctx) }},
		{"programming firewall", l.programFirewall},
		{"waiting for bridge ports", func() error { return l.waitPortsReady(ctx) }},
		{"starting servers", l.startServers},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lab %s: %w", plan.Lab, err)
		}
		start := time.Now()
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("lab %s: %s: %w", plan.Lab, s.name, err)
		}
		l.log.Debug("step done", "step", s.name, "duration", time.Since(start))
	}
	l.makeNodes()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lab %s: %w", plan.Lab, err)
	}
	l.log.Info("lab up", "containers", len(plan.Containers), "networks", len(plan.Networks))
	return l, nil
}

// checkPlan rejects what the netns runtime cannot build.
func checkPlan(plan *topology.Plan) error {
	if plan.Lab == "" {
		return errors.New("plan has no lab name")
	}
	for _, n := range plan.Networks {
		if n.Driver != topology.DriverBridge || n.Bridge == "" {
			return fmt.Errorf("network %s: %w: the netns runtime builds bridge networks only, not %s; use --runtime docker", n.Name, topology.ErrUnsupported, n.Driver)
		}
	}
	return nil
}

// nsOf returns the namespace file descriptor of container c.
func (l *lab) nsOf(c *topology.PlannedContainer) int {
	owner := l.plan.NetnsOwner(c)
	if owner == nil {
		return l.hostFd
	}
	if fd, ok := l.containerFd[owner.Name]; ok {
		return fd
	}
	return -1
}

func (l *lab) makeNodes() {
	add := func(n topology.Node) {
		l.nodes = append(l.nodes, n)
		l.byName[n.Name()] = n
	}
	for _, c := range l.plan.Containers {
		add(&node{name: c.Name, kind: topology.NodeContainer, lab: l, fd: l.nsOf(c)})
	}
	add(&node{name: topology.HostNode, kind: topology.NodeHost, lab: l, fd: l.hostFd})
	for _, o := range l.plan.Outside {
		add(&outsideNode{node: node{name: o.Name, kind: topology.NodeOutside, lab: l, fd: l.outsideFd}, addr: o.Address})
	}
}

// Plan returns the plan the lab was built from.
func (l *lab) Plan() *topology.Plan { return l.plan }

// Nodes returns the containers in plan order, then the host, then the
// outside hosts.
func (l *lab) Nodes() []topology.Node { return l.nodes }

// Node returns the node with the given name, or nil.
func (l *lab) Node(name string) topology.Node {
	if n, ok := l.byName[name]; ok {
		return n
	}
	return nil
}

// Close stops the servers and closes every namespace file descriptor, after
// which the kernel removes the namespaces with their links and rules. It is
// safe to call more than once and returns the first call's error.
func (l *lab) Close(ctx context.Context) error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *lab) close() error {
	var errs []error
	if l.stop != nil {
		l.stop()
	}

	for i := len(l.closers) - 1; i >= 0; i-- {
		if err := l.closers[i](); err != nil && !errors.Is(err, os.ErrClosed) && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	l.servers.Wait()

	l.fdMu.Lock()
	defer l.fdMu.Unlock()
	l.closed = true
	for _, fd := range l.containerFd {
		unix.Close(fd)
	}
	l.containerFd = map[string]int{}
	for _, fd := range []*int{&l.hostFd, &l.outsideFd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if l.lock != nil {
		unlockLab(l.lock)
		l.lock = nil
	}

	if len(errs) > 0 {
		return fmt.Errorf("closing lab %s: %w", l.plan.Lab, errors.Join(errs...))
	}
	if l.owner && l.nodes != nil {
		l.log.Info("lab down")
	}
	return nil
}
