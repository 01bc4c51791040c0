package topology

import (
	"context"
	"errors"
	"io"
	"net/netip"
)

// Runtime instantiates plans as real networking. The netns runtime builds
// namespaces, veths and bridges itself; the docker runtime asks Docker Engine.
type Runtime interface {
	// Name is the runtime's name as --runtime takes it: netns or docker.
	Name() string
	// Up builds the lab of plan. On error, everything it created is removed.
	Up(ctx context.Context, plan *Plan) (Lab, error)
	// Down removes the named lab and any leftovers of a crashed one. It
	// returns ErrNoLab when nothing of the lab exists.
	Down(ctx context.Context, lab string) error
	// List returns the labs that exist on this machine.
	List(ctx context.Context) ([]LabInfo, error)
}

// LabInfo describes a lab found by Runtime.List.
type LabInfo struct {
	Name    string `json:"name"`
	Runtime string `json:"runtime"`
	// File is the topology file the lab was started from, when known.
	File string `json:"file,omitempty"`
	// PID is the supervisor process holding a netns lab, 0 for none.
	PID int `json:"pid,omitempty"`
}

// Lab is a running lab.
type Lab interface {
	Plan() *Plan
	// Nodes returns the containers, the host and the outside hosts.
	Nodes() []Node
	// Node returns the node with the given name, or nil.
	Node(name string) Node
	// Close tears the lab down. It is safe to call more than once.
	Close(ctx context.Context) error
}

// NodeKind tells containers, the Docker host and outside hosts apart.
type NodeKind string

// Kinds of node.
const (
	NodeContainer NodeKind = "container"
	NodeHost      NodeKind = "host"
	NodeOutside   NodeKind = "outside"
)

// Node is one place a probe can run from.
type Node interface {
	Name() string
	Kind() NodeKind
	// Do runs f on a locked OS thread switched into the node's network
	// namespace and switches back before returning. It returns ErrNotLocal
	// when the namespace cannot be entered from this process.
	Do(f func() error) error
	// Exec runs a program inside the node and waits for it.
	Exec(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// Sentinel errors of runtimes.
var (
	// ErrNotLocal is returned by Node.Do when the node's namespace is not
	// reachable from this process, such as a container on a remote daemon.
	ErrNotLocal = errors.New("node namespace is not reachable from this process")
	// ErrNoLab is returned by Runtime.Down when the lab does not exist.
	ErrNoLab = errors.New("no such lab")
	// ErrLabExists is returned by Runtime.Up when a lab of the same name runs.
	ErrLabExists = errors.New("lab is already running")
	// ErrUnsupported wraps requests a runtime cannot build, such as a
	// macvlan network on the netns runtime.
	ErrUnsupported = errors.New("not supported by this runtime")
	// ErrEnvironment wraps failures of the machine rather than of the
	// topology: missing privilege, no user namespaces, Docker unreachable.
	ErrEnvironment = errors.New("environment does not support this runtime")
)

// SourceAddresser is implemented by nodes that share a namespace with other
// nodes, such as outside hosts, which must bind their own address before
// sending so that peers see the right source.
type SourceAddresser interface {
	SourceAddr() netip.Addr
}

// TargetGuard is implemented by nodes that share a namespace with more than
// the lab, such as the docker runtime's host, which is this machine's own
// namespace. Probes from such a node go only to addresses it allows.
type TargetGuard interface {
	AllowsTarget(addr netip.Addr) bool
}

// SourceSelector is implemented by nodes that must bind a particular
// source address to reach some destinations, such as the docker runtime's
// host, whose policy rules carry only traffic from the uplink address to
// the lab's outside router. SourceFor returns the address to bind before
// sending to dst, or the zero Addr to let the kernel choose. A node's
// TargetGuard may allow dst only on the condition that senders bind
// SourceFor(dst), so callers that consult the guard must bind it.
type SourceSelector interface {
	SourceFor(dst netip.Addr) netip.Addr
}
