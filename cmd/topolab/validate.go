package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/topolab/topolab/topology"
)

type validateOptions struct {
	*globalOptions
	files []string
}

// validation is one file's outcome in validate's JSON output.
type validation struct {
	File       string        `json:"file"`
	Valid      bool          `json:"valid"`
	Lab        string        `json:"lab,omitempty"`
	Networks   int           `json:"networks,omitempty"`
	Containers int           `json:"containers,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	Errors     []errorRecord `json:"errors,omitempty"`
}

type errorRecord struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

func newValidateCommand(g *globalOptions) *cobra.Command {
	o := &validateOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check topology files and report every error with its position and fix",
		Example: `  topolab validate lab.yaml
  topolab validate --format json alpine-net nat`,
		Args: minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.files = args
			return o.run()
		},
	}
}

func (o *validateOptions) run() error {
	if err := o.checkFormat("table", "json"); err != nil {
		return err
	}
	var all []validation
	invalid := 0
	for _, f := range o.files {
		v := validateFile(f)
		if !v.Valid {
			invalid++
		}
		all = append(all, v)
	}
	if o.format == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"schema_version": 1, "files": all}); err != nil {
			return err
		}
	} else {
		for _, v := range all {
			if v.Valid {
				fmt.Fprintf(o.Out, "%s: valid: lab %s, %s, %s\n", v.File, v.Lab,
					plural(v.Networks, "network"), plural(v.Containers, "container"))
				for _, w := range v.Warnings {
					fmt.Fprintf(o.Out, "%s: warning: %s\n", v.File, w)
				}
				continue
			}
			for _, e := range v.Errors {
				fmt.Fprintln(o.ErrOut, formatRecord(e))
			}
		}
	}
	if invalid > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w: %d of %d files invalid", errSilent, invalid, len(o.files))}
	}
	return nil
}

// plural returns "1 network" or "2 networks".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func formatRecord(e errorRecord) string {
	te := &topology.Error{File: e.File, Pos: topology.Pos{Line: e.Line, Column: e.Column},
		Field: e.Field, Msg: e.Message, Fix: e.Fix}
	return te.Error()
}

func validateFile(file string) validation {
	v := validation{File: file}
	plan, err := loadPlan(file)
	if err != nil {
		var list topology.ErrorList
		var one *topology.Error
		switch {
		case errors.As(err, &list):
			for _, e := range list {
				v.Errors = append(v.Errors, recordOf(e))
			}
		case errors.As(err, &one):
			v.Errors = append(v.Errors, recordOf(one))
		default:
			v.Errors = append(v.Errors, errorRecord{File: file, Message: err.Error()})
		}
		return v
	}
	v.Valid = true
	v.Lab = plan.Lab
	v.Networks = len(plan.Topology.Networks)
	v.Containers = len(plan.Containers)
	v.Warnings = plan.Warnings
	return v
}

func recordOf(e *topology.Error) errorRecord {
	return errorRecord{File: e.File, Line: e.Pos.Line, Column: e.Pos.Column, Field: e.Field, Message: e.Msg, Fix: e.Fix}
}
