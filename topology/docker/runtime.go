package docker

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"

	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// Labels that mark topolab's Docker objects. Only objects carrying
// LabelLab are ever changed or removed.
const (
	LabelLab     = "topolab.lab"
	LabelNode    = "topolab.node"
	LabelNetwork = "topolab.network"
	// LabelImage marks the probe image, which labs share.
	LabelImage = "topolab.image"
)

// Options configures a Runtime. The zero value talks to the local daemon.
type Options struct {
	// Logger receives progress records; nil discards them.
	Logger *slog.Logger
	// Host is the daemon address, as DOCKER_HOST takes it; empty means the
	// DOCKER_HOST environment variable or else the local socket
	// unix:///var/run/docker.sock.
	Host string
	// Busybox is the statically linked busybox copied into the probe image;
	// empty means /bin/busybox.
	Busybox string
	// Responder is the statically linked topolab-responder copied into the
	// probe image; empty means topolab-responder beside the running
	// executable, else on PATH.
	Responder string
	// ProbeImageOnly runs every container on the probe image, even when the
	// image the topology file names is present.
	ProbeImageOnly bool
}

// Runtime is the Docker Engine runtime. It is safe for concurrent use.
type Runtime struct {
	opts   Options
	log    *slog.Logger
	client *client.Client
	// local is true when the daemon runs on this machine, so containers'
	// namespaces can be entered through /proc.
	local bool

	imageMu sync.Mutex
	// probeImage is the tag of the probe image once it is known to exist.
	probeImage string
}

var _ topology.Runtime = (*Runtime)(nil)

// New returns a runtime for the daemon of opts. It does not contact the
// daemon: the first call that needs it negotiates the API version.
func New(opts Options) (*Runtime, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	c, err := client.New(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	u, err := url.Parse(c.DaemonHost())
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("parsing docker host %q: %w", c.DaemonHost(), err)
	}
	return &Runtime{opts: opts, log: log, client: c, local: u.Scheme == "unix"}, nil
}

// Name returns "docker".
func (r *Runtime) Name() string { return "docker" }

// Close releases the client's connections. Labs stay up.
func (r *Runtime) Close() error { return r.client.Close() }

// Client returns the Engine API client the runtime uses.
func (r *Runtime) Client() *client.Client { return r.client }

// ServerVersion returns the daemon's engine and API versions.
func (r *Runtime) ServerVersion(ctx context.Context) (engine, api string, err error) {
	v, err := r.client.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", "", r.unreachable(err)
	}
	return v.Version, v.APIVersion, nil
}

// unreachable wraps err in topology.ErrEnvironment when the daemon could
// not be reached at all, so the command reports a missing daemon rather
// than a topology problem.
func (r *Runtime) unreachable(err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w: docker daemon at %s: %w", topology.ErrEnvironment, r.client.DaemonHost(), err)
	}
	return err
}

// labFilter returns the filter selecting every object of lab.
func labFilter(lab string) client.Filters {
	return make(client.Filters).Add("label", LabelLab+"="+lab)
}

// objectName is the Docker name of a lab's network or container.
func objectName(lab, name string) string { return lab + "-" + name }
