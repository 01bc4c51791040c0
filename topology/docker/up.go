package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
	"golang.org/x/sync/errgroup"

	"github.com/topolab/topolab/topology"
)

// parallelCreates is how many containers without a default-bridge
// interface are created at once.
//
// NOTE: Docker 20.10 can leave a network's endpoint count too high after
// parallel connects and removals, so the network can never be removed
// ("has active endpoints") until the daemon restarts. One at a time avoids
// that, at the cost of speed.
const parallelCreates = 1

// rollbackSweepDelay is how long a rollback waits before its second sweep
// for objects that a cancelled request created late.
const rollbackSweepDelay = 500 * time.Millisecond

// cleanupTimeout bounds a rollback or teardown that runs after the caller's
// context was cancelled.
const cleanupTimeout = 2 * time.Minute

// Up creates the networks and containers of plan and the outside namespace.
// On error, everything it created is removed. It returns
// topology.ErrLabExists when objects labelled with the lab's name exist.
func (r *Runtime) Up(ctx context.Context, plan *topology.Plan) (_ topology.Lab, err error) {
	found, err := r.findLab(ctx, plan.Lab)
	if err != nil {
		return nil, err
	}
	if found.any() {
		return nil, fmt.Errorf("starting lab %s: %w (run topolab down %s)", plan.Lab, topology.ErrLabExists, plan.Lab)
	}
	images, err := r.chooseImages(ctx, plan)
	if err != nil {
		return nil, err
	}

	lab := newLab(r, plan)
	defer func() {
		if err == nil {
			return
		}
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rbErr := lab.Close(cleanupCtx); rbErr != nil {
			r.log.Error("rolling back lab", "lab", plan.Lab, "error", rbErr)
			err = fmt.Errorf("%w (rolling back: %v)", err, rbErr)
		}
		// A request cancelled on its way, as by Ctrl-C, may still create
		// its container or network in the daemon after Close looked, so
		// sweep the lab's labelled objects now and once more shortly after.
		for sweep := 0; sweep < 2; sweep++ {
			if sweep > 0 {
				time.Sleep(rollbackSweepDelay)
			}
			if dErr := r.Down(cleanupCtx, plan.Lab); dErr != nil && !errors.Is(dErr, topology.ErrNoLab) {
				r.log.Error("sweeping lab after rollback", "lab", plan.Lab, "error", dErr)
			}
		}
	}()

	_, outsidePid, err := r.startOutsideContainer(ctx, plan)
	if err != nil {
		return nil, err
	}
	if r.local {
		if lab.outside, err = newOutside(plan, r.log, outsidePid); err != nil {
			return nil, err
		}
	} else {
		// NOTE: a remote daemon's host cannot be given the outside namespace,
		// so outside hosts are unreachable there.
		lab.differences = append(lab.differences, "the daemon is remote: the lab has no outside hosts")
	}
	for _, n := range plan.Networks {
		if n.Default {
			continue
		}
		if err := r.createNetwork(ctx, plan.Lab, n); err != nil {
			return nil, err
		}
	}
	if err := r.createContainers(ctx, plan, images, lab); err != nil {
		return nil, err
	}
	if err := lab.readBack(ctx); err != nil {
		return nil, err
	}
	if lab.outside != nil {
		if err := lab.outside.allowSources(lab.sourcePrefixes()); err != nil {
			return nil, err
		}
	}
	if r.local {
		if lab.gateways, err = localGateways(lab.plan); err != nil {
			return nil, err
		}
	}
	lab.buildNodes()
	r.log.Info("lab up", "lab", plan.Lab, "containers", len(plan.Containers), "differences", len(lab.differences))
	return lab, nil
}

// chooseImages returns the image of every container: the one the topology
// file names when the daemon has it, else the probe image.
func (r *Runtime) chooseImages(ctx context.Context, plan *topology.Plan) (map[string]string, error) {
	images := map[string]string{}
	var needProbe []string
	for _, c := range plan.Containers {
		if c.Image != "" && !r.opts.ProbeImageOnly {
			ok, err := r.imagePresent(ctx, c.Image)
			if err != nil {
				return nil, err
			}
			if ok {
				images[c.Name] = c.Image
				continue
			}
			r.log.Info("image not present, using the probe image", "container", c.Name, "image", c.Image)
		}
		needProbe = append(needProbe, c.Name)
	}
	if len(needProbe) == 0 {
		return images, nil
	}
	probe, err := r.ProbeImage(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range needProbe {
		images[name] = probe
	}
	return images, nil
}

func (r *Runtime) createNetwork(ctx context.Context, lab string, n *topology.PlannedNetwork) error {
	name := objectName(lab, n.Name)
	// Docker allows several networks of one name, and a container would
	// then join whichever the daemon finds first.
	existing, err := r.client.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return fmt.Errorf("listing networks named %s: %w", name, r.unreachable(err))
	}
	for _, e := range existing.Items {
		if e.Name == name {
			return fmt.Errorf("creating network %s: a network of that name exists (ID %.12s): remove it or rename the lab", name, e.ID)
		}
	}
	r.log.Debug("creating network", "network", name, "subnet", n.Subnet)
	if _, err := r.client.NetworkCreate(ctx, name, networkSpec(lab, n)); err != nil {
		return fmt.Errorf("creating network %s: %w", name, r.unreachable(err))
	}
	return nil
}

// createContainers creates, starts and connects every container. Docker
// assigns default-bridge addresses lowest-free, so containers with a
// default-bridge interface go one by one in plan order, as the plan
// allocates them. The others have static addresses and go in parallel.
// Container-mode containers go last, after the namespaces they share.
func (r *Runtime) createContainers(ctx context.Context, plan *topology.Plan, images map[string]string, lab *Lab) error {
	order, err := creationOrder(plan)
	if err != nil {
		return err
	}
	var serial, parallel, shared []*topology.PlannedContainer
	for _, c := range order {
		switch {
		case c.Mode == topology.ModeContainer:
			shared = append(shared, c)
		case c.Interface(topology.DefaultBridge) != nil:
			serial = append(serial, c)
		default:
			parallel = append(parallel, c)
		}
	}

	start := func(c *topology.PlannedContainer) error {
		id, err := r.startContainer(ctx, lab, c, images[c.Name])
		lab.addContainer(c.Name, id)
		return err
	}
	for _, c := range serial {
		if err := start(c); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelCreates)
	for _, c := range parallel {
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			return start(c)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}

	for _, c := range shared {
		if err := start(c); err != nil {
			return err
		}
	}
	return nil
}

// startContainer creates and starts c and connects it to its other
// networks in plan order, so that its interfaces are named as planned. It
// returns the container ID, also on error once the container exists.
func (r *Runtime) startContainer(ctx context.Context, lab *Lab, c *topology.PlannedContainer, image string) (string, error) {
	plan := lab.planned
	probe, _ := r.probeImageTag()
	spec, err := buildContainerSpec(plan, c, image, image == probe)
	if err != nil {
		return "", err
	}
	name := spec.create.Name
	r.noteVersionDifferences(lab, c, spec.reordered)
	r.log.Debug("creating container", "container", name, "image", image)
	created, err := r.client.ContainerCreate(ctx, spec.create)
	if err != nil {
		return "", fmt.Errorf("creating container %s: %w", name, r.unreachable(err))
	}
	if _, err := r.client.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return created.ID, fmt.Errorf("starting container %s: %w", name, err)
	}
	for _, conn := range spec.connect {
		_, err := r.client.NetworkConnect(ctx, conn.network, client.NetworkConnectOptions{
			Container:      created.ID,
			EndpointConfig: conn.endpoint,
		})
		if err != nil {
			return created.ID, fmt.Errorf("connecting container %s to network %s: %w", name, conn.network, err)
		}
	}
	return created.ID, nil
}

// gwPriorityVersion is the first API version whose daemons honour an
// endpoint's gw-priority.
const gwPriorityVersion = "1.48"

// noteVersionDifferences records in lab, and logs as a warning, what the
// daemon's API version cannot build of c. Before API 1.48 the daemon
// ignores the file's gw_priority, and also the gw-priorities that topolab
// sends when reordered is true, because Docker would sort c's networks
// unlike the plan.
func (r *Runtime) noteVersionDifferences(lab *Lab, c *topology.PlannedContainer, reordered bool) {
	api := r.client.ClientVersion()
	if versions.GreaterThanOrEqualTo(api, gwPriorityVersion) {
		return
	}
	for _, iface := range c.Interfaces {
		if iface.GwPriority == 0 {
			continue
		}
		lab.addDifference("%s: gw_priority %d on network %s is ignored, because API %s predates gw-priority (API %s)",
			c.Name, iface.GwPriority, iface.Network, api, gwPriorityVersion)
		r.log.Warn("gw_priority ignored by the daemon", "lab", lab.planned.Lab, "container", c.Name,
			"network", iface.Network, "gw_priority", iface.GwPriority, "api", api)
	}
	if reordered {
		lab.addDifference("%s: Docker sorts its networks by their Docker names, here unlike the plan, "+
			"and API %s cannot set gw-priority (API %s) to restore the plan's order of default gateway and DNS lookups",
			c.Name, api, gwPriorityVersion)
		// Info, not a warning: every command on such a daemon would repeat
		// it, and Lab.Plan already follows the order Docker chose.
		r.log.Info("network order differs from the plan; results follow Docker's order", "lab", lab.planned.Lab,
			"container", c.Name, "api", api, "fix", "a Docker Engine with API "+gwPriorityVersion+" or later restores the plan's order")
	}
}

// probeImageTag returns the probe image's tag once ProbeImage found or
// built it.
func (r *Runtime) probeImageTag() (string, bool) {
	r.imageMu.Lock()
	defer r.imageMu.Unlock()
	return r.probeImage, r.probeImage != ""
}
