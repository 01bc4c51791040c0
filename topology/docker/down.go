package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/topolab/topolab/topology"
)

// parallelRemoves is how many containers are removed at once. It is 1 for
// the reason given at parallelCreates.
const parallelRemoves = 1

// labObjects are the Docker objects that carry a lab's label.
type labObjects struct {
	// containers lists container IDs; shared lists those of container-mode
	// containers, which go before the containers whose namespaces they
	// share.
	containers, shared []string
	networks           []string
}

func (o labObjects) any() bool {
	return len(o.containers)+len(o.shared)+len(o.networks) > 0
}

// findLab lists the objects labelled topolab.lab=lab.
func (r *Runtime) findLab(ctx context.Context, lab string) (labObjects, error) {
	var found labObjects
	containers, err := r.client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labFilter(lab)})
	if err != nil {
		return found, fmt.Errorf("listing containers of lab %s: %w", lab, r.unreachable(err))
	}
	for _, c := range containers.Items {
		// The daemon filters already; the check keeps a daemon that ignores
		// a filter from handing over a foreign object.
		if c.Labels[LabelLab] != lab {
			continue
		}
		if strings.HasPrefix(c.HostConfig.NetworkMode, "container:") {
			found.shared = append(found.shared, c.ID)
		} else {
			found.containers = append(found.containers, c.ID)
		}
	}
	networks, err := r.client.NetworkList(ctx, client.NetworkListOptions{Filters: labFilter(lab)})
	if err != nil {
		return found, fmt.Errorf("listing networks of lab %s: %w", lab, r.unreachable(err))
	}
	for _, n := range networks.Items {
		if n.Labels[LabelLab] == lab {
			found.networks = append(found.networks, n.ID)
		}
	}
	return found, nil
}

// Down removes every container and network labelled with lab, and the
// lab's outside veth and policy rules if a crashed process left them. It
// returns topology.ErrNoLab when none of these exist.
func (r *Runtime) Down(ctx context.Context, lab string) error {
	removed, err := r.removeLabelled(ctx, lab)
	if err != nil {
		return err
	}
	leftovers := false
	if r.local {
		if leftovers, err = removeOutsideLeftovers(lab); err != nil {
			return err
		}
	}
	if !removed && !leftovers {
		return fmt.Errorf("removing lab %s: %w", lab, topology.ErrNoLab)
	}
	return nil
}

// removeLabelled removes the containers, then the networks, labelled with
// lab, and reports whether there were any.
func (r *Runtime) removeLabelled(ctx context.Context, lab string) (bool, error) {
	found, err := r.findLab(ctx, lab)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, wave := range [][]string{found.shared, found.containers} {
		if err := r.removeContainers(ctx, wave); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range found.networks {
		_, err := r.client.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing network %s of lab %s: %w", id[:12], lab, err))
		}
	}
	return found.any(), errors.Join(errs...)
}

func (r *Runtime) removeContainers(ctx context.Context, ids []string) error {
	var g errgroup.Group
	g.SetLimit(parallelRemoves)
	errs := make([]error, len(ids))
	for i, id := range ids {
		g.Go(func() error {
			_, err := r.client.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				errs[i] = fmt.Errorf("removing container %s: %w", id[:12], err)
			}
			return nil
		})
	}
	g.Wait()
	return errors.Join(errs...)
}

// List returns the labs that have a labelled container or network.
func (r *Runtime) List(ctx context.Context) ([]topology.LabInfo, error) {
	filter := make(client.Filters).Add("label", LabelLab)
	names := map[string]bool{}
	containers, err := r.client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", r.unreachable(err))
	}
	for _, c := range containers.Items {
		if lab := c.Labels[LabelLab]; lab != "" {
			names[lab] = true
		}
	}
	networks, err := r.client.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", r.unreachable(err))
	}
	for _, n := range networks.Items {
		if lab := n.Labels[LabelLab]; lab != "" {
			names[lab] = true
		}
	}
	labs := make([]topology.LabInfo, 0, len(names))
	for name := range names {
		labs = append(labs, topology.LabInfo{Name: name, Runtime: r.Name()})
	}
	sort.Slice(labs, func(i, j int) bool { return labs[i].Name < labs[j].Name })
	return labs, nil
}
