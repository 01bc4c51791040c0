package docker

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/topolab/topolab/topology"
)

// Labels of the outside container, which holds a lab's outside namespace
// and records its topology.
const (
	// LabelRole is "outside" on the outside container.
	LabelRole = "topolab.role"
	// LabelTopology is the lab's topology as gzip-compressed JSON in
	// standard base64, which Attach plans again.
	LabelTopology = "topolab.topology"
	// LabelTopologyVersion is the version of the LabelTopology encoding.
	LabelTopologyVersion = "topolab.topology-version"
)

const (
	roleOutside     = "outside"
	topologyVersion = "1"
	// maxTopologyLabel bounds the encoded topology, in bytes. Docker sets
	// no limit on a label, but the container's whole configuration travels
	// in one API request and is rewritten on every state change.
	maxTopologyLabel = 4 << 20
)

// outsideName returns the Docker name of the lab's outside container. The
// underscore cannot occur in a lab or container name of a topology file, so
// the name never clashes with <lab>-<name>.
func outsideName(lab string) string { return lab + "_outside" }

// encodeTopology returns t as the value of LabelTopology.
func encodeTopology(t *topology.Topology) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encoding topology %s: %w", t.Name, err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compressing topology %s: %w", t.Name, err)
	}
	s := base64.StdEncoding.EncodeToString(buf.Bytes())
	if len(s) > maxTopologyLabel {
		return "", fmt.Errorf("encoding topology %s: %d bytes encoded, more than the %d a label may carry", t.Name, len(s), maxTopologyLabel)
	}
	return s, nil
}

// decodeTopology returns the topology of a LabelTopology value.
func decodeTopology(s string) (*topology.Topology, error) {
	if len(s) > maxTopologyLabel {
		return nil, fmt.Errorf("decoding topology: label of %d bytes is larger than %d", len(s), maxTopologyLabel)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decoding topology: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decompressing topology: %w", err)
	}
	// A topology file is at most topology.MaxFileSize; its JSON form stays
	// within a small multiple of that.
	data, err := io.ReadAll(io.LimitReader(zr, 16*topology.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing topology: %w", err)
	}
	if len(data) > 16*topology.MaxFileSize {
		return nil, errors.New("decompressing topology: larger than 16 times the maximum file size")
	}
	t := &topology.Topology{}
	if err := json.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("decoding topology: %w", err)
	}
	return t, nil
}

// startOutsideContainer creates and starts the lab's outside container: a
// probe-image container without networks whose namespace becomes the
// outside namespace, so that the outside lives as long as the lab's
// containers rather than as long as the process that ran Up. Its labels
// record the topology for Attach. It returns the container ID, also on
// error once the container exists, and its init process's PID.
func (r *Runtime) startOutsideContainer(ctx context.Context, plan *topology.Plan) (string, int, error) {
	if plan.Topology == nil {
		return "", 0, fmt.Errorf("starting lab %s: the plan has no topology", plan.Lab)
	}
	encoded, err := encodeTopology(plan.Topology)
	if err != nil {
		return "", 0, err
	}
	image, err := r.ProbeImage(ctx)
	if err != nil {
		return "", 0, err
	}

	name := outsideName(plan.Lab)
	created, err := r.client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: image,
			Env:   []string{"TOPOLAB_NODE=" + name},
			Labels: map[string]string{
				LabelLab:             plan.Lab,
				LabelRole:            roleOutside,
				LabelTopology:        encoded,
				LabelTopologyVersion: topologyVersion,
			},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return "", 0, fmt.Errorf("creating container %s: %w", name, r.unreachable(err))
	}
	if _, err := r.client.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return created.ID, 0, fmt.Errorf("starting container %s: %w", name, err)
	}

	info, err := r.client.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		return created.ID, 0, fmt.Errorf("inspecting container %s: %w", name, err)
	}
	if s := info.Container.State; s == nil || !s.Running || s.Pid <= 0 {
		return created.ID, 0, fmt.Errorf("starting container %s: it exited right away (see docker logs %s)", name, name)
	}
	return created.ID, info.Container.State.Pid, nil
}

// Attach opens a lab that Up started, possibly in another process, for
// probes, commands and captures. It plans the topology recorded on the
// lab's outside container again, reads Docker's addresses back as Up does,
// and, when the daemon is local, serves the outside hosts' DNS and HTTP
// in the lab's outside namespace until Close. Close of the returned lab
// stops only those servers and leaves the lab running. Attach returns an
// error wrapping topology.ErrNoLab when nothing of the lab exists.
func (r *Runtime) Attach(ctx context.Context, name string) (_ topology.Lab, err error) {
	list, err := r.client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labFilter(name)})
	if err != nil {
		return nil, fmt.Errorf("listing containers of lab %s: %w", name, r.unreachable(err))
	}
	var keeper *container.Summary
	ids := map[string]string{}
	for i, c := range list.Items {
		if c.Labels[LabelLab] != name {
			continue
		}
		if c.Labels[LabelRole] == roleOutside {
			keeper = &list.Items[i]
		} else if node := c.Labels[LabelNode]; node != "" {
			ids[node] = c.ID
		}
	}
	if keeper == nil {
		found, err := r.findLab(ctx, name)
		if err != nil {
			return nil, err
		}
		if found.any() {
			return nil, fmt.Errorf("attaching to lab %s: its container %s is missing, so its topology is unknown; remove the lab with topolab down %s",
				name, outsideName(name), name)
		}
		return nil, fmt.Errorf("attaching to lab %s: %w", name, topology.ErrNoLab)
	}
	plan, pid, err := r.attachedPlan(ctx, name, keeper.ID)
	if err != nil {
		return nil, err
	}

	lab := newLab(r, plan)
	lab.attached = true
	defer func() {
		if err != nil {
			lab.Close(context.WithoutCancel(ctx))
		}
	}()
	for _, c := range plan.Containers {
		id, ok := ids[c.Name]
		if !ok {
			return nil, fmt.Errorf("attaching to lab %s: container %s is missing; remove the lab with topolab down %s",
				name, objectName(name, c.Name), name)
		}
		lab.addContainer(c.Name, id)
		if spec, err := buildContainerSpec(plan, c, "", false); err == nil {
			r.noteVersionDifferences(lab, c, spec.reordered)
		}
	}
	if err := lab.readBack(ctx); err != nil {
		return nil, fmt.Errorf("attaching to lab %s: %w", name, err)
	}
	if r.local {
		if lab.outside, err = attachOutside(plan, r.log, pid); err != nil {
			return nil, fmt.Errorf("attaching to lab %s: %w", name, err)
		}
		if err := lab.outside.allowSources(lab.sourcePrefixes()); err != nil {
			return nil, fmt.Errorf("attaching to lab %s: %w", name, err)
		}
		if lab.gateways, err = localGateways(lab.plan); err != nil {
			return nil, fmt.Errorf("attaching to lab %s: %w", name, err)
		}
	} else {
		lab.differences = append(lab.differences, "the daemon is remote: the lab has no outside hosts")
	}
	lab.buildNodes()
	r.log.Info("attached to lab", "lab", name, "containers", len(plan.Containers))
	return lab, nil
}

// attachedPlan plans the topology recorded on the outside container id of
// lab and returns the plan and the container's PID.
func (r *Runtime) attachedPlan(ctx context.Context, lab, id string) (*topology.Plan, int, error) {
	info, err := r.client.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("inspecting container %s: %w", outsideName(lab), r.unreachable(err))
	}
	c := info.Container
	if c.Config == nil || c.Config.Labels[LabelTopologyVersion] != topologyVersion {
		return nil, 0, fmt.Errorf("attaching to lab %s: container %s records no topology of version %s; remove the lab with topolab down %s",
			lab, outsideName(lab), topologyVersion, lab)
	}
	if c.State == nil || !c.State.Running || c.State.Pid <= 0 {
		return nil, 0, fmt.Errorf("attaching to lab %s: container %s is not running; remove the lab with topolab down %s",
			lab, outsideName(lab), lab)
	}
	topo, err := decodeTopology(c.Config.Labels[LabelTopology])
	if err != nil {
		return nil, 0, fmt.Errorf("attaching to lab %s: %w", lab, err)
	}
	if topo.Name != lab {
		return nil, 0, fmt.Errorf("attaching to lab %s: container %s records lab %q", lab, outsideName(lab), topo.Name)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		return nil, 0, fmt.Errorf("attaching to lab %s: planning its topology: %w", lab, err)
	}
	return plan, c.State.Pid, nil
}
